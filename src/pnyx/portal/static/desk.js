// Every desk (portal/desk.py) works without this script: a signed-in session's panel is rendered by
// the server and its forms post as plain forms (Post/Redirect/Get). This script adds: the live tally
// refreshed every few seconds, focus on a refused field, and, for a visitor who keeps the token in this
// tab instead (sessionStorage, sent as a bearer header), the panel fetched with that token and the
// forms posted with it, the answer being the panel again. A token the server no longer accepts sends
// that visitor back to the sign-in form with the reason; a form refused for it stays as typed.
(() => {
  const $ = (id) => document.getElementById(id);
  const token = () => sessionStorage.getItem("pnyx-token") || "";
  const headers = () => (token() ? { Authorization: `Bearer ${token()}` } : {});
  const panel = $("desk-panel");
  const source = panel.dataset.panel + window.location.search; // a page's filters travel to its panel
  const live = $("live");
  const EXPIRED = "Your token has expired or is not valid: sign in again.";
  let keepPanel = false; // a form refused for the token stays as typed until the visitor signs in again

  function signedOut(message) {
    sessionStorage.removeItem("pnyx-token");
    sessionStorage.removeItem("pnyx-roles");
    window.dispatchEvent(new Event("pnyx-signed-in"));
    $("whoami").textContent = message;
    $("token").value = "";
    $("token").focus();
  }

  function reason(text) {
    const alert = new DOMParser().parseFromString(text, "text/html").querySelector("[role=alert]");
    return alert ? alert.textContent : "";
  }

  async function refreshLive() {
    if (!live) return;
    const response = await fetch(live.dataset.live, { cache: "no-store" });
    if (response.ok) live.innerHTML = await response.text(); // the server's template, every value escaped
  }

  async function load(method, path, body) {
    const response = await fetch(path, { method, headers: headers(), body });
    const text = await response.text();
    const type = response.headers.get("content-type") || "";
    if (response.status === 401 && method === "POST") {
      keepPanel = true;
      signedOut(`Please sign in again (${reason(text) || response.statusText}); what you typed is kept.`);
      return;
    }
    if (type.startsWith("text/html")) {
      panel.innerHTML = text; // rendered by the server from its own template, every value escaped
    } else {
      const problem = type.includes("json") && text ? JSON.parse(text) : {};
      panel.textContent = `refused: ${problem.detail || `${response.status} ${response.statusText}`}`;
    }
    if (response.status === 401 && token()) signedOut(EXPIRED);
    const invalid = panel.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
    await refreshLive();
  }

  async function signIn() {
    const response = await fetch("/api/v1/me", { headers: headers() });
    if (response.ok) {
      const me = await response.json();
      $("whoami").textContent = `signed in as ${me.name} (${me.roles.join(", ")})`;
      sessionStorage.setItem("pnyx-roles", me.roles.join(","));
      window.dispatchEvent(new Event("pnyx-signed-in"));
    } else if (keepPanel) {
      signedOut(EXPIRED);
      return;
    }
    if (!keepPanel) await load("GET", source);
    keepPanel = false;
  }

  panel.addEventListener("submit", (event) => {
    if (!token()) return; // a session's form: the browser posts it
    event.preventDefault();
    const form = event.target;
    load("POST", form.getAttribute("action"), new URLSearchParams(new FormData(form)));
  });
  if (live) setInterval(refreshLive, 4000);
  const invalid = panel.querySelector("[aria-invalid=true]");
  if (invalid) invalid.focus();
  if (panel.hasAttribute("data-rendered")) return; // signed in with a session: the server did the rest
  $("token-form").onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem("pnyx-token", $("token").value.trim());
    signIn();
  };
  if (token()) signIn();
})();
