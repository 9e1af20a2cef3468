/**
 * Thrown while starting a source when starting again cannot help: the thing it captures is
 * gone (a closed window, a missing device) or a tool it needs is not installed. The source
 * reports it as a non-restartable exit, so subscribers get an error instead of endless retries.
 */
export class PermanentSourceError extends Error {
  override readonly name: string = 'PermanentSourceError';
}
