/**
 * seeds/000's `image-generated` vocabulary: the generation parameters of one image, as the
 * publish API takes them, the domain keeps them and `/ws/streaming` sends them. Types only.
 */
export interface ImageGeneratedParams {
  positivePrompt: string;
  negativePrompt: string;
  /** A string: ComfyUI seeds exceed 2^53. */
  seed: string;
  width: number;
  height: number;
  workflowName: string;
}
