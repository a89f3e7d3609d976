/** The memory layer: a process's pages on one kernel, and what travels between kernels. */
export { Replica, MemoryError, PAGE_SIZE, pageBytes, type PageSet, type PageRun, type ReplicaParts } from "./replica.js";
