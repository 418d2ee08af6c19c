// Calls the server does not have: each line must be a type error.
import { createWardenClient, memoryStore } from "@warden/client";

const warden = createWardenClient({ url: "http://127.0.0.1:3000", store: memoryStore() });
await warden.api.auth.notAProcedure.query();
await warden.api.auth.login.mutate({ email: 1, password: "correct horse battery" });
await warden.api.auth.resetPassword.mutate({ token: "from-the-link" });
