import type { JobInfo } from './generation-event.js';

export type JobState = 'running' | 'completed' | 'failed';

export interface Job {
  readonly info: JobInfo;
  state: JobState;
  progress: number;
  /** Image indexes received or being stored: a second image with the same index is refused. */
  readonly images: Set<number>;
  /** Images the producer said the job makes (`imageLength`), once known. */
  expected: number | undefined;
}

/**
 * Jobs by id. Bounded: past `maxJobs`, the oldest finished jobs are forgotten first (their
 * events stay in the replay log and their images on disk), then the oldest running ones.
 */
export class JobRegistry {
  readonly #jobs = new Map<string, Job>();

  constructor(private readonly maxJobs = 10_000) {}

  get(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  has(id: string): boolean {
    return this.#jobs.has(id);
  }

  add(info: JobInfo): Job {
    const job: Job = { info, state: 'running', progress: 0, images: new Set(), expected: undefined };
    this.#jobs.set(info.id, job);
    if (this.#jobs.size > this.maxJobs) this.#evictOne();
    return job;
  }

  delete(id: string): void {
    this.#jobs.delete(id);
  }

  get size(): number {
    return this.#jobs.size;
  }

  #evictOne(): void {
    // Map iteration is insertion order: the first finished job found is the oldest one.
    for (const [id, job] of this.#jobs) {
      if (job.state !== 'running') {
        this.#jobs.delete(id);
        return;
      }
    }
    const oldest = this.#jobs.keys().next().value;
    if (oldest !== undefined) this.#jobs.delete(oldest);
  }
}
