/** Two kernel daemons on loopback for the cluster-mode benchmarks: host/cli/local-cluster.ts. */
import { type LocalCluster, startLocalCluster } from "../host/cli/local-cluster.js";

export type LoopbackCluster = LocalCluster;

export function loopbackCluster(isas: string[] = ["x86-64", "aarch64"]): Promise<LoopbackCluster> {
  return startLocalCluster(isas);
}
