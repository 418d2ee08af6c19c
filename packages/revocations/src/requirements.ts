import { Cluster, ReplyError, type Redis } from "ioredis";
import type { RedisClient } from "./redis.js";

/**
 * The eviction policy BullMQ and the revocation feed need: under any other policy a full Redis
 * deletes keys, and jobs, the job scheduler and feed entries are among them.
 */
const REQUIRED_POLICY = "noeviction";
/** A policy changed at run time (CONFIG SET) is noticed this late; a reconnect re-checks at once. */
const RECHECK_EVERY_MS = 60_000;

export interface RequirementsLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** Something an operator must fix; `policy` is set when it was read and is wrong, absent when it could not be read. */
export interface RedisRequirementProblem {
  message: string;
  node: string | undefined;
  policy: string | undefined;
}

const WHY =
  "under any other policy a full Redis deletes keys: BullMQ loses revocation jobs and its job scheduler, and the revocation feed loses entries";

function policyFromInfo(info: string): string | undefined {
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
}

/**
 * CONFIG GET first; managed services often refuse CONFIG but still show the policy in INFO.
 * Throws what is not a refusal (a dropped connection): that says nothing about the policy.
 */
async function readPolicy(node: Redis): Promise<{ policy: string } | { refused: string }> {
  const refusals: string[] = [];
  try {
    const reply = (await node.config("GET", "maxmemory-policy")) as string[];
    if (reply[1]) return { policy: reply[1] };
    refusals.push("CONFIG GET maxmemory-policy: no such setting");
  } catch (error) {
    if (!(error instanceof ReplyError)) throw error;
    refusals.push(`CONFIG GET: ${(error as Error).message}`);
  }
  try {
    const policy = policyFromInfo(await node.info("memory"));
    if (policy) return { policy };
    refusals.push("INFO memory: no maxmemory_policy");
  } catch (error) {
    if (!(error instanceof ReplyError)) throw error;
    refusals.push(`INFO memory: ${(error as Error).message}`);
  }
  return { refused: refusals.join("; ") };
}

/** Reads maxmemory-policy of one node (of each master of a cluster) and says what is wrong. */
export async function checkRedisRequirements(client: RedisClient): Promise<RedisRequirementProblem[]> {
  const nodes = client instanceof Cluster ? client.nodes("master") : [client];
  const problems = await Promise.all(
    nodes.map(async (node): Promise<RedisRequirementProblem | undefined> => {
      const name = client instanceof Cluster ? `${node.options.host}:${node.options.port}` : undefined;
      const where = name ? `Redis node ${name}` : "Redis";
      const read = await readPolicy(node);
      if ("refused" in read) {
        return {
          node: name,
          policy: undefined,
          message: `could not read maxmemory-policy of ${where} (${read.refused}): make sure it is "${REQUIRED_POLICY}" (redis.conf, or your provider's parameter settings); ${WHY}`,
        };
      }
      if (read.policy === REQUIRED_POLICY) return undefined;
      return {
        node: name,
        policy: read.policy,
        message: `${where} maxmemory-policy is "${read.policy}", Warden needs "${REQUIRED_POLICY}": ${WHY}. Set maxmemory-policy ${REQUIRED_POLICY} (redis.conf and CONFIG SET, or your provider's parameter settings)`,
      };
    }),
  );
  return problems.filter((p) => p !== undefined);
}

export interface RedisRequirementsWatch {
  /** What the latest check found wrong, as sentences for operators; empty when all is well (or before the first check). */
  warnings(): string[];
  /** Checks now; a check already running is joined. Resolves with the current warnings. */
  check(): Promise<string[]>;
  close(): void;
}

/**
 * Checks Redis against what BullMQ and the feed need, on every (re)connect (Redis may come back as
 * another server: a failover, a restart with another configuration) and every minute, and logs
 * each problem when it appears (error: a wrong policy; warn: one that could not be read) and when
 * it is gone. A check that fails for want of a connection keeps the last answer.
 */
export function watchRedisRequirements(client: RedisClient, logger: RequirementsLogger): RedisRequirementsWatch {
  let current: RedisRequirementProblem[] = [];
  let running: Promise<string[]> | undefined;
  let again = false;
  let closed = false;
  const warnings = () => current.map((p) => p.message);

  const update = (found: RedisRequirementProblem[]) => {
    const known = new Set(current.map((p) => p.message));
    for (const problem of found) {
      if (known.has(problem.message)) continue;
      const details = { node: problem.node, maxmemoryPolicy: problem.policy };
      if (problem.policy) logger.error(details, problem.message);
      else logger.warn(details, problem.message);
    }
    if (current.length > 0 && found.length === 0) logger.info({}, `Redis maxmemory-policy is "${REQUIRED_POLICY}" now`);
    current = found;
  };

  const check = (): Promise<string[]> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        if (closed || client.status !== "ready") break;
        try {
          const found = await checkRedisRequirements(client);
          if (!closed) update(found);
        } catch {
          // Disconnected mid-check: the next "ready" checks again.
        }
      } while (again);
      return warnings();
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  const onReady = () => void check();
  client.on("ready", onReady);
  const timer = setInterval(onReady, RECHECK_EVERY_MS);
  timer.unref();
  if (client.status === "ready") onReady();

  return {
    warnings,
    check,
    close() {
      closed = true;
      clearInterval(timer);
      client.off("ready", onReady);
    },
  };
}
