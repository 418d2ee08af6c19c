import { describe, expect, it } from "vitest";
import { addressProblem, webhookUrlProblem } from "./webhook-targets.js";

const strict = { allowLocal: false };
const local = { allowLocal: true };

/** Addresses a webhook must never reach, whatever their spelling. */
const REFUSED = [
  "10.0.0.1",
  "172.16.5.4",
  "192.168.1.1",
  "169.254.169.254", // cloud metadata
  "100.64.0.1", // carrier-grade NAT
  "0.0.0.0",
  "224.0.0.1",
  "255.255.255.255",
  "192.0.2.1", // documentation
  "::",
  "fc00::1",
  "fd00:ec2::254", // cloud metadata over IPv6
  "fe80::1",
  "ff02::1",
  "::ffff:10.0.0.1", // IPv4-mapped
  "::ffff:169.254.169.254",
  "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
  "2002:a00:1::1", // 6to4 of 10.0.0.1
  "::7f00:1", // IPv4-compatible (::/96) forms: 127.0.0.1, 10.0.0.1, 169.254.169.254
  "::a00:1",
  "::a9fe:a9fe",
  "4000::1", // unicast to ipaddr.js, but outside global unicast 2000::/3
  "fec0::1", // deprecated site-local
];
const LOOPBACK = ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"];
const PUBLIC = ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"];

describe("addressProblem", () => {
  it("allows only public unicast addresses; WEBHOOKS_ALLOW_LOCAL adds loopback and nothing else", () => {
    for (const address of PUBLIC) {
      expect(addressProblem(address, strict), address).toBeUndefined();
      expect(addressProblem(address, local), address).toBeUndefined();
    }
    for (const address of REFUSED) {
      expect(addressProblem(address, strict), address).toMatch(/may only call public addresses/);
      expect(addressProblem(address, local), address).toMatch(/may only call public addresses/);
    }
    for (const address of LOOPBACK) {
      expect(addressProblem(address, strict), address).toMatch(/loopback address/);
      expect(addressProblem(address, local), address).toBeUndefined();
    }
    expect(addressProblem("example.com", local)).toMatch(/not an IP address/);
  });
});

describe("webhookUrlProblem", () => {
  const problem = (url: string, policy = strict) => webhookUrlProblem(new URL(url), policy);

  it("https to a name or a public address is fine; http is not, except loopback with WEBHOOKS_ALLOW_LOCAL", () => {
    expect(problem("https://hooks.example.com/x")).toBeUndefined();
    expect(problem("https://93.184.216.34/x")).toBeUndefined();
    expect(problem("https://[2606:4700:4700::1111]/x")).toBeUndefined();
    expect(problem("http://hooks.example.com/x")).toMatch(/must be an https:\/\/ URL/);
    expect(problem("http://hooks.example.com/x", local)).toMatch(/must be an https:\/\/ URL/);
    for (const url of [
      "http://127.0.0.1:9/x",
      "https://127.0.0.1:9/x",
      "http://[::1]:9/x",
      "http://localhost:9/x",
      "https://api.localhost/x",
    ]) {
      expect(problem(url, local), url).toBeUndefined();
      expect(problem(url), url).toMatch(/must not point to a loopback address/);
    }
  });

  it("literal private addresses are refused at once, however they are written", () => {
    for (const url of [
      "https://10.0.0.1/x",
      "https://169.254.169.254/latest/meta-data",
      "https://0xa9fea9fe/x", // 169.254.169.254 in hex: the URL parser reads it as IPv4
      "https://[::ffff:a00:1]/x",
      "https://[fd00::1]/x",
      "https://[::7f00:1]/x", // IPv4-compatible IPv6 of 127.0.0.1 and 10.0.0.1
      "https://[::a00:1]/x",
      "https://[::127.0.0.1]/x",
    ]) {
      expect(problem(url, local), url).toMatch(/must not point to a private address/);
    }
    // Loopback in other spellings is still loopback.
    expect(problem("https://2130706433/x")).toMatch(/loopback/);
    expect(problem("https://0x7f.1/x")).toMatch(/loopback/);
  });
});
