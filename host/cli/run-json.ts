/**
 * What `popcorn run --json` and `popcorn resume --json` print: one JSON
 * object on one line of stdout, instead of the program's output, in every
 * mode — one kernel in this thread (run.ts: plain, --checkpoint-every,
 * --stop-at/--save, resume), kernels in worker threads (kernels.ts: --kernels,
 * and a program with threads, which runs on a kernel of its own) and a
 * cluster (cluster.ts: --cluster, and --kernels with an <isa>@qemu kernel).
 * A script reads the same core fields whatever the mode:
 *
 *   Field      | Type                         | In
 *   status     | number                       | every mode: the status popcorn exits with — the program's
 *              |                              | own (main's result mod 256, as exit(3)), 1 when it failed
 *   error      | string                       | when the program failed (a trap, an abort, the call stack
 *              |                              | exhausted, its kernel lost): why, one line; absent otherwise
 *   output     | { stream: 1 | 2, line }[]    | every mode: the program's output lines in order
 *              |                              | (stream 1 stdout, 2 stderr), up to where it stopped or failed
 *   ms         | number                       | every mode: wall time of the run, milliseconds
 *   dmesg      | string[]                     | every mode: the kernel log, as --dmesg prints it
 *   pid        | number                       | kernels and cluster: the process id the kernels gave it
 *   captures   | number                       | one kernel (not --stop-at): capture + restore round trips,
 *              |                              |   also when the program failed
 *   imageBytes | number                       | one kernel: bytes of those images; --stop-at: of the saved one
 *   stoppedAt  | number                       | --stop-at: the migration point it stopped at — absent when
 *   image      | string                       |   the program ended first (nothing saved); image: the file
 *
 *   {"status":0,"output":[{"stream":1,"line":"fib(10) = 55"}],"ms":3.1,"dmesg":[],"captures":0,"imageBytes":0}
 *   {"status":1,"error":"trap.ts: trap: unreachable in trap/main","output":[],"ms":0.4,"dmesg":[],"captures":0,"imageBytes":0}
 *
 * popcorn's own errors (bad flags, an unreadable program, a refused image;
 * exit status 2) print no JSON: one line on stderr, as without --json.
 */

/** One line the program wrote: stream 1 is its stdout, 2 its stderr. */
export interface OutputLine {
  stream: number;
  line: string;
}

export interface RunSummary {
  status: number;
  error?: string;
  output: OutputLine[];
  ms: number;
  dmesg: string[];
  pid?: number;
  captures?: number;
  imageBytes?: number;
  stoppedAt?: number;
  image?: string;
}

/** Prints the summary, its core fields first (undefined ones left out, as JSON.stringify does). */
export function printRunJson(s: RunSummary): void {
  const { status: own, error, output, ms, dmesg, ...mode } = s;
  // what the shell sees as $?: a main that returns 256 or -1 exits 0 or 255, as exit(3) does
  const status = own & 0xff;
  process.stdout.write(JSON.stringify({ status, error, output, ms, dmesg, ...mode }) + "\n");
}
