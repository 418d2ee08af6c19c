import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/**
 * Where a webhook may point (SSRF). Only global unicast addresses: private, loopback, link-local
 * (169.254.169.254, the cloud metadata service), unique-local, carrier-grade NAT, multicast,
 * broadcast, unspecified, reserved and documentation ranges are refused, and so are IPv4-mapped
 * and translated (NAT64, 6to4, Teredo) IPv6 forms of them. An IPv6 address must also lie in global
 * unicast, 2000::/3: ipaddr.js calls everything it has no name for "unicast", IPv4-compatible
 * addresses (::/96, `::7f00:1` is 127.0.0.1) included. WEBHOOKS_ALLOW_LOCAL=true (development,
 * tests) allows loopback, and nothing else besides.
 */
export interface TargetPolicy {
  allowLocal: boolean;
}

/** Names that are loopback by definition (RFC 6761), refused or allowed like 127.0.0.1 before any lookup. */
function isLoopbackName(hostname: string): boolean {
  return hostname === "localhost" || hostname.endsWith(".localhost");
}

/** IPv6 global unicast (RFC 4291): the only IPv6 block the Internet routes to hosts. */
const IPV6_GLOBAL_UNICAST = ipaddr.parseCIDR("2000::/3");

/**
 * The range ipaddr.js gives an address, IPv4-mapped IPv6 read as the IPv4 address it carries; an
 * IPv6 address it calls unicast outside 2000::/3 (IPv4-compatible ::/96, unassigned space) is
 * `non-global`.
 */
function rangeOf(address: string): string {
  const parsed = ipaddr.process(address);
  const range = parsed.range();
  if (range === "unicast" && parsed.kind() === "ipv6" && !parsed.match(IPV6_GLOBAL_UNICAST)) return "non-global";
  return range;
}

/** What is wrong with connecting to this address, or undefined when it may be called. */
export function addressProblem(address: string, policy: TargetPolicy): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const range = rangeOf(address);
  if (range === "unicast") return undefined;
  if (range === "loopback" && policy.allowLocal) return undefined;
  return `${ipaddr.process(address).toString()} is a ${range} address: webhooks may only call public addresses`;
}

/** Whether the address is loopback (127.0.0.0/8, ::1, or either IPv4-mapped). */
export function isLoopbackAddress(address: string): boolean {
  return ipaddr.isValid(address) && rangeOf(address) === "loopback";
}

/** A URL's host as an address when it is an IP literal (`[::1]` unbracketed), else undefined. */
export function literalAddressOf(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return isIP(host) ? host : undefined;
}

/**
 * What is wrong with a webhook URL under the policy, decided without DNS (at create): https only,
 * but loopback http(s) with allowLocal; a literal address must be one that may be called. A name is
 * checked again on every delivery, on the addresses it resolves to then.
 */
export function webhookUrlProblem(url: URL, policy: TargetPolicy): string | undefined {
  const literal = literalAddressOf(url);
  const loopback = literal ? isLoopbackAddress(literal) : isLoopbackName(url.hostname);
  if (loopback) {
    return policy.allowLocal ? undefined : "must not point to a loopback address (WEBHOOKS_ALLOW_LOCAL is off)";
  }
  if (url.protocol !== "https:") {
    return "must be an https:// URL (http:// only for loopback with WEBHOOKS_ALLOW_LOCAL=true)";
  }
  if (literal) {
    const problem = addressProblem(literal, policy);
    if (problem) return `must not point to a private address: ${problem}`;
  }
  return undefined;
}
