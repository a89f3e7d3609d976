/** The memory layer: a process's memory on one kernel, and what travels between kernels to keep the copies consistent. */
export {
  Replica,
  MemoryError,
  PAGE_SIZE,
  MAX_KERNELS,
  MAX_WASM_PAGES,
  pageBytes,
  diffBytes,
  diffRuns,
  diffOf,
  type PageSet,
  type PageRun,
  type Diff,
  type DiffRun,
  type Merged,
  type ReplicaParts,
} from "./replica.js";
