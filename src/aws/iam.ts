// IAM's half of the SDK adapter, loaded on the first IAM call (see createIam in sdk.ts).
import {
  CreateAccessKeyCommand,
  DeleteAccessKeyCommand,
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUsersCommand,
  UpdateAccessKeyCommand,
} from "@aws-sdk/client-iam";
import {
  type AccessKey,
  AwsCallError,
  type IamPort,
  type IamUser,
  isAwsCallError,
  type KeyLastUsed,
  type NewAccessKey,
} from "../engine/ports.js";
import { type Credentials, call, clientConfig, toAwsCallError } from "./client.js";
import type { AwsSettings } from "./settings.js";

function iamClient(credentials: Credentials, settings: AwsSettings, maxAttempts?: number): IAMClient {
  return new IAMClient(clientConfig(credentials, settings, "iam", maxAttempts));
}

function toKey(k: {
  AccessKeyId?: string | undefined;
  Status?: string | undefined;
  CreateDate?: Date | undefined;
}): AccessKey {
  return {
    accessKeyId: k.AccessKeyId ?? "",
    status: k.Status === "Inactive" ? "Inactive" : "Active",
    createDate: k.CreateDate ?? new Date(0),
  };
}

export function createIamPort(credentials: Credentials, settings: AwsSettings): Required<IamPort> {
  const client = iamClient(credentials, settings);
  const once = iamClient(credentials, settings, 1);
  const listKeys = (userName: string | undefined) =>
    call("ListAccessKeys", async (options) => {
      const keys: AccessKey[] = [];
      let marker: string | undefined;
      do {
        const page = await client.send(
          new ListAccessKeysCommand({ ...(userName ? { UserName: userName } : {}), Marker: marker }),
          options,
        );
        for (const k of page.AccessKeyMetadata ?? []) keys.push(toKey(k));
        marker = page.IsTruncated ? page.Marker : undefined;
      } while (marker);
      return keys;
    });
  return {
    listAccessKeys: (userName) => listKeys(userName),
    listOwnAccessKeys: () => listKeys(undefined),
    createAccessKey: (userName) =>
      call("CreateAccessKey", async (options) => {
        const out = await once.send(new CreateAccessKeyCommand({ UserName: userName }), options);
        const k = out.AccessKey;
        if (!k?.AccessKeyId || !k.SecretAccessKey) {
          throw new AwsCallError("InvalidResponse", "CreateAccessKey", "IAM answered without a key", true);
        }
        return {
          ...toKey(k),
          secretAccessKey: k.SecretAccessKey,
          userName: k.UserName ?? userName,
        } satisfies NewAccessKey;
      }),
    updateAccessKey: (userName, accessKeyId, status) =>
      call("UpdateAccessKey", async (options) => {
        await client.send(
          new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId, Status: status }),
          options,
        );
      }),
    deleteAccessKey: (userName, accessKeyId) =>
      call("DeleteAccessKey", async (options) => {
        try {
          await client.send(
            new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId }),
            options,
          );
        } catch (err) {
          // A retry after a lost answer finds the key already gone: that is the outcome we wanted.
          if (isAwsCallError(toAwsCallError(err, "DeleteAccessKey"), "NoSuchEntity")) return;
          throw err;
        }
      }),
    getAccessKeyLastUsed: (accessKeyId) =>
      call("GetAccessKeyLastUsed", async (options) => {
        const out = await client.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: accessKeyId }), options);
        const used = out.AccessKeyLastUsed;
        const result: KeyLastUsed = {
          ...(out.UserName ? { userName: out.UserName } : {}),
          ...(used?.LastUsedDate ? { lastUsedDate: used.LastUsedDate } : {}),
          ...(used?.ServiceName && used.ServiceName !== "N/A" ? { serviceName: used.ServiceName } : {}),
          ...(used?.Region && used.Region !== "N/A" ? { region: used.Region } : {}),
        };
        return result;
      }),
    listUsers: () =>
      call("ListUsers", async (options) => {
        const users: IamUser[] = [];
        let marker: string | undefined;
        do {
          const page = await client.send(new ListUsersCommand({ Marker: marker, MaxItems: 1000 }), options);
          for (const u of page.Users ?? []) users.push({ userName: u.UserName ?? "", arn: u.Arn ?? "" });
          marker = page.IsTruncated ? page.Marker : undefined;
        } while (marker);
        return users;
      }),
  };
}
