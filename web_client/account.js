// Shared by every page (a classic script, loaded first). In accounts mode it shows who is signed
// in with a sign-out button, adds the CSRF token to every state-changing request, and on the
// history page lets a candidate share their reports with a coach. In local mode it does nothing.
(function () {
  const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
  const csrf = () => (document.cookie.match(/(?:^|;\s*)mi_csrf=([^;]+)/) || [])[1] || "";
  const plainFetch = window.fetch.bind(window);
  window.fetch = (input, init = {}) => {
    const method = (init.method || (input instanceof Request ? input.method : "GET")).toUpperCase();
    if (!SAFE.has(method) && csrf()) {
      const headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
      headers.set("x-csrf-token", decodeURIComponent(csrf()));
      init = { ...init, headers };
    }
    return plainFetch(input, init);
  };

  function node(tag, attrs = {}, text = "") {
    const n = document.createElement(tag);
    Object.assign(n, attrs);
    if (text) n.textContent = text;
    return n;
  }

  async function sharing(host) {
    const section = node("section", { id: "sharing" });
    section.setAttribute("aria-labelledby", "sharing-h");
    section.append(node("h2", { id: "sharing-h" }, "Share with a coach"));
    section.append(node("p", { className: "small" }, "A coach you add can read all your reports (not change them) until you remove them."));
    const list = node("ul", { id: "share-list" });
    const form = node("form", { id: "share-form" });
    const input = node("input", { name: "coach", required: true, maxLength: 64, placeholder: "coach's user name" });
    input.setAttribute("aria-label", "Coach's user name");
    const msg = node("p", { id: "share-status", role: "status" });
    form.append(input, node("button", { type: "submit" }, "Share"));
    const render = (coaches) => {
      list.replaceChildren(...coaches.map((c) => {
        const li = node("li", {}, `${c} `);
        const b = node("button", { type: "button", className: "link" }, "Stop sharing");
        b.addEventListener("click", async () => {
          const r = await fetch(`/api/shares/${encodeURIComponent(c)}`, { method: "DELETE" });
          if (r.ok) render((await r.json()).coaches);
        });
        li.append(b);
        return li;
      }));
      if (!coaches.length) list.append(node("li", {}, "Not shared with anyone."));
    };
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      msg.textContent = "";
      const r = await fetch("/api/shares", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ coach: input.value }) });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) { msg.textContent = body.detail || "Could not share."; return; }
      input.value = "";
      render(body.coaches);
    });
    section.append(list, form, msg);
    host.append(section);
    const r = await fetch("/api/shares");
    if (r.ok) render((await r.json()).coaches);
  }

  async function start() {
    const me = await plainFetch("/api/auth/me").then((r) => r.json()).catch(() => null);
    if (!me || me.mode !== "accounts" || !me.signed_in) return;
    const bar = node("nav", { id: "account-bar", className: "account-bar" });
    bar.setAttribute("aria-label", "Account");
    bar.append(node("span", { id: "account-name" }, `Signed in as ${me.username} (${me.role})`));
    if (me.role === "coach" || me.role === "admin") {
      bar.append(" · ", node("a", { href: "/shared" }, "Shared with me"));
    }
    const out = node("button", { type: "button", className: "link", id: "sign-out" }, "Sign out");
    out.addEventListener("click", async () => {
      await fetch("/api/auth/logout", { method: "POST" });
      location.assign("/login");
    });
    bar.append(" · ", out);
    const main = document.querySelector("main") || document.body;
    main.prepend(bar);
    if (location.pathname === "/history" && me.role !== "admin") sharing(main);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
