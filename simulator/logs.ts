/**
 * ComfyUI's in-memory log (app/logger.py): every write to its stdout/stderr is kept as a `{t, m}` entry in a deque of
 * `capacity` entries (300), exception texts of failed nodes included; GET /internal/logs serves them joined, GET
 * /internal/logs/raw as a list, and clients that subscribed (PATCH /internal/logs/subscribe) get each flushed batch as a
 * `logs` message. Capacity 0 is what docker/comfyui-launch.py makes of it: nothing kept, nothing sent.
 */

export interface LogEntry {
  /** Python's datetime.now().isoformat(): local time, microseconds, no zone. */
  t: string;
  m: string;
}

/** What a headless ComfyUI reports as its terminal (shutil.get_terminal_size's fallback). */
const TERMINAL = { cols: 80, rows: 24 };

export class ComfyLog {
  readonly #entries: LogEntry[] = [];
  readonly #subscribers = new Set<string>();
  #sizeSent = false;

  constructor(
    private readonly capacity: number,
    /** Sends a `logs` message to a client; false when that client is not connected (then it is unsubscribed). */
    private readonly send: (clientId: string, data: Record<string, unknown>) => boolean,
  ) {}

  /** One logging record, written and flushed as Python's StreamHandler does: the message and a newline. */
  write(message: string): void {
    if (this.capacity === 0) return;
    const entry = { t: isoNow(), m: `${message}\n` };
    this.#entries.push(entry);
    if (this.#entries.length > this.capacity) this.#entries.shift();
    for (const clientId of [...this.#subscribers]) {
      // ComfyUI sends the terminal size with the first batch and null after, until it changes.
      const size = this.#sizeSent ? null : TERMINAL;
      if (this.send(clientId, { entries: [entry], size })) this.#sizeSent = true;
      else this.#subscribers.delete(clientId);
    }
  }

  /** GET /internal/logs: one string, each entry as "t - m". */
  text(): string {
    return this.#entries.map((e) => `${e.t} - ${e.m}`).join('');
  }

  /** GET /internal/logs/raw. */
  raw(): { entries: LogEntry[]; size: typeof TERMINAL } {
    return { entries: [...this.#entries], size: TERMINAL };
  }

  subscribe(clientId: string, enabled: boolean): void {
    if (enabled) this.#subscribers.add(clientId);
    else this.#subscribers.delete(clientId);
  }
}

function isoNow(): string {
  const d = new Date();
  const local = new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString();
  return `${local.slice(0, -1)}000`;
}
