import type { Clock } from "@warden/access-token";

export type { Clock };

export const systemClock: Clock = () => Date.now();
