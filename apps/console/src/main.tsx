import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.js";
import { currentPage, takeLinkToken } from "./pages.js";
import { ResetPasswordPage } from "./ResetPasswordPage.js";
import { VerifyEmailPage } from "./VerifyEmailPage.js";
import "./styles.css";

// Read once, before React renders (and may render twice in development): taking the token clears it from the URL.
const page = currentPage();
const token = page === "admin" ? undefined : takeLinkToken();
// A link pasted into the tab that shows its page changes only the fragment: load it afresh to read its token.
if (page !== "admin") window.addEventListener("hashchange", () => window.location.reload());

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    {page === "reset-password" ? (
      <ResetPasswordPage token={token} />
    ) : page === "verify-email" ? (
      <VerifyEmailPage token={token} />
    ) : (
      <App />
    )}
  </StrictMode>,
);
