/** Words per slot: the id's 128 bits as four 32-bit words, then its expiry in seconds (0: empty). */
const SLOT = 5;
const EXPIRY = 4;
const MIN_CAPACITY = 1024;
/** Grow when more than this share of the slots is taken (linear probing stays short below it). */
const MAX_LOAD = 0.75;

/**
 * Ids with an expiry, for the revocation set: a set every protected call asks and that may hold
 * every session revoked within one access-token lifetime (a mass revocation: a million).
 *
 * Session ids are UUIDs, so they are packed into a hash table of 32-bit words (open addressing,
 * linear probing): 20 bytes a slot outside the JavaScript heap, which the garbage collector never
 * walks. A Map of id strings costs several times that, and every major collection walks all of it,
 * which a server under load pays for in throughput. An id that is not a lower-case UUID (a feed
 * may carry any string) goes to a plain Map, so every id is matched exactly.
 *
 * Expiry is kept in whole seconds, rounded up: an entry may outlive its instant by under a second,
 * never the other way round.
 */
export class ExpiringIds {
  private slots: Uint32Array;
  private capacity: number;
  /** Slots taken, expired entries included until `sweep`. */
  private used = 0;
  private readonly others = new Map<string, number>();
  private readonly words = new Uint32Array(4);

  constructor(capacity = MIN_CAPACITY) {
    this.capacity = capacityFor(capacity);
    this.slots = new Uint32Array(this.capacity * SLOT);
  }

  get size(): number {
    return this.used + this.others.size;
  }

  /** Keeps `id` until `untilMs` (epoch ms); the later expiry wins. */
  set(id: string, untilMs: number): void {
    const until = Math.ceil(untilMs / 1000);
    // Zero marks an empty slot; an instant before 1970 has passed anyway.
    if (until <= 0) return;
    if (!packUuid(id, this.words)) {
      const previous = this.others.get(id);
      if (previous === undefined || previous < until) this.others.set(id, until);
      return;
    }
    if ((this.used + 1) / this.capacity > MAX_LOAD) this.rebuild(this.capacity * 2, 0);
    const at = this.find(this.words);
    const base = at * SLOT;
    if (this.slots[base + EXPIRY] === 0) {
      this.slots.set(this.words, base);
      this.used++;
    }
    if (this.slots[base + EXPIRY]! < until) this.slots[base + EXPIRY] = until;
  }

  /** The id's expiry (epoch ms, whole seconds), or undefined when it is not held. */
  get(id: string): number | undefined {
    if (!packUuid(id, this.words)) {
      const until = this.others.get(id);
      return until === undefined ? undefined : until * 1000;
    }
    const until = this.slots[this.find(this.words) * SLOT + EXPIRY]!;
    return until === 0 ? undefined : until * 1000;
  }

  /** Drops every entry expired at `nowMs`, and shrinks the table when most of it is empty. */
  sweep(nowMs: number): void {
    const now = Math.floor(nowMs / 1000);
    for (const [id, until] of this.others) if (until <= now) this.others.delete(id);
    let live = 0;
    for (let base = EXPIRY; base < this.slots.length; base += SLOT) {
      const until = this.slots[base]!;
      if (until !== 0 && until > now) live++;
    }
    if (live === this.used) return;
    this.rebuild(Math.max(MIN_CAPACITY, capacityFor(live / MAX_LOAD)), now);
  }

  /** The slot holding `words`, or the empty slot where they would go. */
  private find(words: Uint32Array): number {
    const mask = this.capacity - 1;
    const slots = this.slots;
    let at = hashOf(words) & mask;
    for (;;) {
      const base = at * SLOT;
      if (
        slots[base + EXPIRY] === 0 ||
        (slots[base] === words[0] && slots[base + 1] === words[1] && slots[base + 2] === words[2] && slots[base + 3] === words[3])
      ) {
        return at;
      }
      at = (at + 1) & mask;
    }
  }

  /** Moves the entries alive at `now` (seconds; 0 keeps all) into a table of `capacity` slots. */
  private rebuild(capacity: number, now: number): void {
    const old = this.slots;
    this.capacity = capacity;
    this.slots = new Uint32Array(capacity * SLOT);
    this.used = 0;
    const words = new Uint32Array(4);
    for (let base = 0; base < old.length; base += SLOT) {
      const until = old[base + EXPIRY]!;
      if (until === 0 || until <= now) continue;
      words.set(old.subarray(base, base + 4));
      const at = this.find(words) * SLOT;
      this.slots.set(words, at);
      this.slots[at + EXPIRY] = until;
      this.used++;
    }
  }
}

/** The smallest power of two of at least `n` slots (and MIN_CAPACITY). */
function capacityFor(n: number): number {
  let capacity = MIN_CAPACITY;
  while (capacity < n) capacity *= 2;
  return capacity;
}

/** Mixes all four words: UUIDv4 ids are random throughout, v7 ids only in their low bits. */
function hashOf(words: Uint32Array): number {
  return Math.imul(words[0]! ^ Math.imul(words[1]!, 0x85ebca6b) ^ Math.imul(words[2]!, 0xc2b2ae35) ^ words[3]!, 0x9e3779b1) >>> 0;
}

/**
 * A lower-case canonical UUID as four words (false for anything else: it is kept as a string).
 * Lower case only, so two spellings of one id never share a slot.
 */
function packUuid(id: string, out: Uint32Array): boolean {
  if (id.length !== 36) return false;
  let word = 0;
  let nibbles = 0;
  for (let i = 0; i < 36; i++) {
    const c = id.charCodeAt(i);
    // The canonical form's dashes: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
      continue;
    }
    let value: number;
    if (c >= 48 && c <= 57) value = c - 48;
    else if (c >= 97 && c <= 102) value = c - 87;
    else return false;
    word = (word << 4) | value;
    if (++nibbles % 8 === 0) {
      out[nibbles / 8 - 1] = word >>> 0;
      word = 0;
    }
  }
  return true;
}
