/**
 * When this process last woke: for the timers that judge a connection by
 * its silence (tcp.ts between kernels, kernel/remote.ts for a client).
 *
 * A timer that ticks every tickMs and declares the other end gone after
 * boundMs of silence can be wrong about it after this process itself did
 * not run — SIGSTOP then SIGCONT, a machine that slept, a paused VM: the
 * timer may fire before the frames that arrived meanwhile are read, and
 * the other end then looks silent for as long as this one was away. A
 * tick late by more than half the bound means this process did not run;
 * silence then counts from the wake-up (the other end gets a fresh bound):
 *
 *   silent = now − max(last byte from the other end, woke())
 */
export class WakeWatch {
  private lastTick = Date.now();
  private awake = this.lastTick;

  constructor(
    private readonly tickMs: number,
    private readonly boundMs: number,
  ) {}

  /**
   * Call once at each tick: when this process last woke (Date.now() time),
   * and by how many ms this tick was late when it is a wake-up (else 0).
   */
  tick(now = Date.now()): { woke: number; lateMs: number } {
    const late = now - this.lastTick - this.tickMs;
    this.lastTick = now;
    if (late > this.boundMs / 2) {
      this.awake = now;
      return { woke: now, lateMs: late };
    }
    return { woke: this.awake, lateMs: 0 };
  }
}
