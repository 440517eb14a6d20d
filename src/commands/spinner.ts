import yoctoSpinner from "yocto-spinner";
import { interrupted } from "../util/interrupt.js";

/** One status line on the terminal: which AWS step is waiting, or the countdown of the key check. */
export function createSpinner() {
  let spinner: ReturnType<typeof yoctoSpinner> | undefined;
  const stop = () => {
    spinner?.stop();
    spinner = undefined;
  };
  // Cleared before the "cancelled" / "stopped part-way" lines are written, and never drawn again:
  // the spinner re-renders itself below anything written to the terminal while it spins.
  interrupted.addEventListener("abort", stop, { once: true });
  const show = (text: string) => {
    if (interrupted.aborted) return;
    // keyctl's own handlers decide what a signal does; yocto-spinner's would exit mid-step.
    if (!spinner)
      spinner = yoctoSpinner({ text, stream: process.stderr, color: "cyan", handleSignals: false }).start();
    else spinner.text = text;
  };
  return {
    show,
    /** The text shown now, if any. */
    get text(): string | undefined {
      return spinner?.text;
    },
    update(elapsedMs: number, timeoutMs: number) {
      const left = Math.max(0, Math.ceil((timeoutMs - elapsedMs) / 1000));
      show(`Waiting for AWS to accept the new key (IAM takes a few seconds; giving up in ${left} s)`);
    },
    stop,
  };
}

export type Spinner = ReturnType<typeof createSpinner>;
