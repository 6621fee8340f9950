// The safety officer's queue: the server renders the panel (or the refusal) for the token sent from
// this tab's sessionStorage; each form in it posts to the portal with that token, and the answer is
// the panel again. No cookie is set, so no other site can post these forms for the visitor.
(() => {
  const $ = (id) => document.getElementById(id);
  const token = () => sessionStorage.getItem("pnyx-token") || "";
  const headers = () => (token() ? { Authorization: `Bearer ${token()}` } : {});
  const panel = $("queue-panel");

  async function load(method, path, body) {
    const response = await fetch(path, { method, headers: headers(), body });
    const text = await response.text();
    if ((response.headers.get("content-type") || "").startsWith("text/html")) {
      panel.innerHTML = text; // rendered by the server from its own template, every value escaped
    } else {
      const data = text && response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : {};
      panel.textContent = `refused: ${data.detail || response.statusText}`;
    }
  }

  async function signIn() {
    try {
      const response = await fetch("/api/v1/me", { headers: headers() });
      const me = await response.json();
      if (!response.ok) throw new Error(me.detail || response.statusText);
      $("whoami").textContent = `signed in as ${me.name} (${me.roles.join(", ")})`;
      sessionStorage.setItem("pnyx-roles", me.roles.join(","));
    } catch (e) {
      $("whoami").textContent = `not signed in: ${e.message}`;
      sessionStorage.removeItem("pnyx-roles");
    }
    window.dispatchEvent(new Event("pnyx-signed-in"));
    await load("GET", "/portal/safety/queue/panel");
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
  if (token()) signIn();
})();
