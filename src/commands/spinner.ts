import yoctoSpinner from "yocto-spinner";

/** A countdown while AWS makes the new key known everywhere; only on a terminal. */
export function createSpinner() {
  let spinner: ReturnType<typeof yoctoSpinner> | undefined;
  return {
    update(elapsedMs: number, timeoutMs: number) {
      const left = Math.max(0, Math.ceil((timeoutMs - elapsedMs) / 1000));
      const text = `Waiting for AWS to accept the new key (IAM takes a few seconds; giving up in ${left} s)`;
      if (!spinner) spinner = yoctoSpinner({ text, stream: process.stderr, color: "cyan" }).start();
      else spinner.text = text;
    },
    stop() {
      spinner?.stop();
      spinner = undefined;
    },
  };
}
