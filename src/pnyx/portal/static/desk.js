// Every desk (delegate, reviewer, researcher, operator, auditor; portal/desk.py): the server renders the
// panel (or the refusal) for the token sent from this tab's sessionStorage, with the page's filters
// (?by=, ?site=); each form in it posts to the portal with that token, and the answer is the panel
// again, with a refused form's error next to its field and what was typed kept. A token the server no
// longer accepts (expired, revoked, unknown) sends the visitor back to the sign-in form with the
// reason; a form refused for it stays as typed, to post again once signed in. No cookie is set, so no
// other site can post these forms for the visitor.
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
    event.preventDefault();
    const form = event.target;
    load("POST", form.getAttribute("action"), new URLSearchParams(new FormData(form)));
  });
  $("token-form").onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem("pnyx-token", $("token").value.trim());
    signIn();
  };
  if (live) setInterval(refreshLive, 4000);
  if (token()) signIn();
  else $("whoami").textContent = "not signed in: paste your API token";
})();
