/**
 * The state-transformation layer: native images of a thread's stack, and
 * lower (portable frames → image), lift (image → frames) and rewrite (image
 * of ISA A → image of ISA B, with an optional trace). It never names an ISA:
 * everything ISA-specific comes from the IsaProfile and the Stackmap.
 */
export { type NativeImage, type PortableFrame, type Value, TransformError } from "./image.js";
export { lower } from "./lower.js";
export { lift } from "./lift.js";
export { rewrite, type RewriteOptions, type RewriteResult } from "./rewrite.js";
export {
  TRACE_VERSION,
  type TransformTrace,
  type TraceFrame,
  type TraceFrameSide,
  type TraceValue,
  type TraceImage,
  type LocationCounts,
} from "./trace.js";
