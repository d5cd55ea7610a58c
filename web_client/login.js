// The sign-in page (accounts mode): sign in or create an account, then go where the user was going.
const status = document.getElementById("login-status");
const next = new URLSearchParams(location.search).get("next") || "/";
const target = next.startsWith("/") && !next.startsWith("//") ? next : "/";

async function submit(form, url) {
  status.textContent = "";
  const data = Object.fromEntries(new FormData(form));
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data) });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    status.textContent = body.detail || "Something went wrong; please try again.";
    return;
  }
  location.assign(target);
}

for (const [id, url] of [["signin", "/api/auth/login"], ["signup", "/api/auth/register"]]) {
  document.getElementById(id).addEventListener("submit", (ev) => { ev.preventDefault(); submit(ev.target, url); });
}
