/**
 * seeds/001's `/ws` vocabulary: envelope types and the payload each carries, as the server sends
 * them and the client library types them (written once, here). Types and constants only:
 * the browser bundle imports this.
 */

export const EnvelopeType = {
  Started: 'image.generation.started',
  Progress: 'image.generation.progress',
  Completed: 'image.generation.completed',
  Failed: 'image.generation.failed',
  Notification: 'system.notification',
  ReplayGap: 'replay.gap',
  Pong: 'pong',
  HeartbeatAck: 'heartbeat.ack',
  Error: 'error',
} as const;
export type EnvelopeType = (typeof EnvelopeType)[keyof typeof EnvelopeType];

export interface StartedPayload { job_id: string; user_id: string | null; prompt: string }
export interface ProgressPayload { job_id: string; progress: number; stage: string }
export interface CompletedPayload { job_id: string; image_url: string; metadata: Record<string, unknown> }
export interface FailedPayload { job_id: string; error: string; retry_allowed: boolean }
export type Severity = 'info' | 'warning' | 'error';
export interface NotificationPayload { severity: Severity; message: string; action_url: string | null }

export interface EnvelopePayloads {
  [EnvelopeType.Started]: StartedPayload;
  [EnvelopeType.Progress]: ProgressPayload;
  [EnvelopeType.Completed]: CompletedPayload;
  [EnvelopeType.Failed]: FailedPayload;
  [EnvelopeType.Notification]: NotificationPayload;
}
