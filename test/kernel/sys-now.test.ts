// The answer word of a syscall made while its thread waits (host/kernel/sys-now.ts):
// the core gets the result the control thread made, or "park"; a core that stopped
// waiting parks, and the control thread then cannot claim the call — so it is made
// once, here or after the thread stopped, never both.
import { describe, expect, it } from "vitest";
import { SysAnswer, SysAsker } from "../../host/kernel/sys-now.js";

describe("sys-now answer word", () => {
  it("gives the core the result of a call the control thread claimed and made", () => {
    const asker = new SysAsker();
    const answer = new SysAnswer(asker.buffer);
    const seen: number[] = [];
    // the "control thread" answers while the request is posted (the core then finds the answer at once)
    const r = asker.ask((seq) => {
      seen.push(seq);
      expect(answer.claim(seq)).toBe(true);
      answer.done(-7);
    });
    expect(r).toBe(-7);
    expect(seen).toEqual([1]);
  });

  it("parks the thread when the control thread says the call would block", () => {
    const asker = new SysAsker();
    const answer = new SysAnswer(asker.buffer);
    expect(asker.ask((seq) => answer.park(seq))).toBeUndefined();
    // the next request has a new sequence number, and the word is usable again
    expect(asker.ask((seq) => (answer.claim(seq), answer.done(3)))).toBe(3);
  });

  it("parks a claimed call that failed", () => {
    const asker = new SysAsker();
    const answer = new SysAnswer(asker.buffer);
    expect(asker.ask((seq) => (answer.claim(seq), answer.park()))).toBeUndefined();
  });

  it("stops waiting for a control thread that does not answer, and then the call cannot be claimed", () => {
    const asker = new SysAsker();
    const answer = new SysAnswer(asker.buffer);
    let asked = 0;
    const t0 = performance.now();
    expect(asker.ask((seq) => (asked = seq))).toBeUndefined();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15); // it waited, then gave up
    // the late control thread: neither a claim nor a park takes effect; the next request is answered as usual
    expect(answer.claim(asked)).toBe(false);
    answer.park(asked);
    expect(asker.ask((seq) => (answer.claim(seq), answer.done(9)))).toBe(9);
  });

  it("does not confuse a late answer to an old request with the answer to a new one", () => {
    const asker = new SysAsker();
    const answer = new SysAnswer(asker.buffer);
    let first = 0;
    asker.ask((seq) => (first = seq)); // given up
    const r = asker.ask((seq) => {
      expect(answer.claim(first)).toBe(false); // the old request's claim fails on the new request's word
      expect(answer.claim(seq)).toBe(true);
      answer.done(42);
    });
    expect(r).toBe(42);
  });
});
