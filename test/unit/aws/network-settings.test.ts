// The AWS CLI's rules for where a call goes: NO_PROXY's forms, the region's order of precedence,
// IAM's signing region per partition, and the order of configured endpoints.
import { describe, expect, it } from "vitest";
import { bypassesProxy } from "../../../src/aws/http.js";
import { iamRegionFor, resolveEndpoint, resolveRegion } from "../../../src/aws/settings.js";
import { CredentialsDocument } from "../../../src/ini/document.js";

describe("NO_PROXY", () => {
  const cases: [host: string, port: number, noProxy: string, direct: boolean][] = [
    ["iam.amazonaws.com", 443, "*", true],
    ["iam.amazonaws.com", 443, "amazonaws.com", true],
    ["amazonaws.com", 443, "amazonaws.com", true],
    ["iam.amazonaws.com", 443, ".amazonaws.com", true],
    ["iam.amazonaws.com", 443, "*.amazonaws.com", true],
    ["notamazonaws.com", 443, "amazonaws.com", false],
    ["iam.amazonaws.com", 443, "example.com, sts.amazonaws.com", false],
    ["IAM.AmazonAWS.com", 443, "iam.amazonaws.com", true],
    ["127.0.0.1", 4566, "127.0.0.1", true],
    ["10.1.2.3", 443, "10.0.0.0/8", true],
    ["11.1.2.3", 443, "10.0.0.0/8", false],
    ["[::1]", 443, "::1", true],
    ["iam.amazonaws.com", 443, "iam.amazonaws.com:443", true],
    ["iam.amazonaws.com", 8443, "iam.amazonaws.com:443", false],
    ["iam.amazonaws.com", 443, "", false],
  ];
  for (const [host, port, noProxy, direct] of cases) {
    it(`${host}:${port} with NO_PROXY="${noProxy}" goes ${direct ? "direct" : "through the proxy"}`, () => {
      expect(bypassesProxy(host, port, noProxy)).toBe(direct);
    });
  }
});

describe("the region", () => {
  it("takes AWS_REGION, then AWS_DEFAULT_REGION, then the profile's, then us-east-1", () => {
    expect(
      resolveRegion("eu-west-1", { AWS_REGION: "us-gov-east-1", AWS_DEFAULT_REGION: "cn-north-1" }),
    ).toBe("us-gov-east-1");
    expect(resolveRegion("eu-west-1", { AWS_DEFAULT_REGION: "cn-north-1" })).toBe("cn-north-1");
    expect(resolveRegion("eu-west-1", {})).toBe("eu-west-1");
    expect(resolveRegion(undefined, {})).toBe("us-east-1");
  });

  it("signs IAM for its partition's global region", () => {
    expect(iamRegionFor("eu-central-2")).toBe("us-east-1");
    expect(iamRegionFor("us-gov-east-1")).toBe("us-gov-west-1");
    expect(iamRegionFor("cn-northwest-1")).toBe("cn-north-1");
    expect(iamRegionFor("us-iso-west-1")).toBe("us-iso-east-1");
    expect(iamRegionFor("us-isob-east-1")).toBe("us-isob-east-1");
  });
});

describe("configured endpoints", () => {
  const config = CredentialsDocument.parse(
    "[profile p]\nservices = local\nendpoint_url = http://profile\n\n[services local]\niam =\n  endpoint_url = http://services-iam\n",
  );
  const profile = new Map([
    ["services", "local"],
    ["endpoint_url", "http://profile"],
  ]);

  it("service variable, then AWS_ENDPOINT_URL, then the services section, then endpoint_url", () => {
    const env = { AWS_ENDPOINT_URL_IAM: "http://env-iam", AWS_ENDPOINT_URL: "http://env" };
    expect(resolveEndpoint("iam", profile, config, env)).toBe("http://env-iam");
    expect(resolveEndpoint("iam", profile, config, { AWS_ENDPOINT_URL: "http://env" })).toBe("http://env");
    expect(resolveEndpoint("iam", profile, config, {})).toBe("http://services-iam");
    expect(resolveEndpoint("sts", profile, config, {})).toBe("http://profile");
    expect(resolveEndpoint("sts", new Map(), config, {})).toBeUndefined();
  });

  it("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the profile's setting turns them all off", () => {
    const env = { AWS_ENDPOINT_URL: "http://env", AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "true" };
    expect(resolveEndpoint("iam", profile, config, env)).toBeUndefined();
    const ignoring = new Map([...profile, ["ignore_configured_endpoint_urls", "true"]]);
    expect(resolveEndpoint("iam", ignoring, config, {})).toBeUndefined();
    expect(resolveEndpoint("iam", ignoring, config, { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "false" })).toBe(
      "http://services-iam",
    );
  });
});
