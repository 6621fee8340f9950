// "My jobs": a thin client of the REST API. The token stays in sessionStorage (this tab only).
(() => {
  const $ = (id) => document.getElementById(id);
  const token = () => sessionStorage.getItem("pnyx-token") || "";
  const api = async (method, path, body) => {
    const response = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${token()}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text && response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text;
    if (!response.ok) {
      const where = data && data.field ? ` (${data.field})` : "";
      throw new Error(`${(data && data.detail) || response.statusText}${where}`);
    }
    return data;
  };
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
  const show = (message, bad) => { $("message").textContent = message; $("message").className = bad ? "verdict bad" : "verdict good"; };

  async function refresh() {
    const jobs = await api("GET", "/api/v1/jobs?mine=true&limit=50");
    const body = $("jobs");
    body.replaceChildren();
    for (const j of jobs) {
      const row = document.createElement("tr");
      row.dataset.job = j.id;
      row.append(cell(j.id), cell(j.name), cell(j.project), cell(j.status), cell(String(j.accelerators)), cell(j.reason));
      const actions = document.createElement("td");
      const logs = document.createElement("button");
      logs.textContent = "logs";
      logs.onclick = async () => { $("logs").hidden = false; $("logs").textContent = await api("GET", `/api/v1/jobs/${j.id}/logs`) || "(no output yet)"; };
      actions.append(logs);
      if (["pending", "dispatching", "queued", "running"].includes(j.status)) {
        const cancel = document.createElement("button");
        cancel.textContent = "cancel";
        cancel.onclick = async () => { try { await api("POST", `/api/v1/jobs/${j.id}/cancel`); show(`${j.id}: cancel requested`); refresh(); } catch (e) { show(e.message, true); } };
        actions.append(cancel);
      }
      row.append(actions);
      body.append(row);
    }
  }

  async function signIn() {
    try {
      const me = await api("GET", "/api/v1/me");
      $("whoami").textContent = `signed in as ${me.name} (${me.roles.join(", ")})`;
      sessionStorage.setItem("pnyx-roles", me.roles.join(","));
      window.dispatchEvent(new Event("pnyx-signed-in"));
      $("jobs-section").hidden = false;
      await refresh();
    } catch (e) {
      $("whoami").textContent = `not signed in: ${e.message}`;
      sessionStorage.removeItem("pnyx-roles");
      window.dispatchEvent(new Event("pnyx-signed-in"));
      $("jobs-section").hidden = true;
    }
  }

  $("token-form").onsubmit = (event) => { event.preventDefault(); sessionStorage.setItem("pnyx-token", $("token").value.trim()); signIn(); };
  $("submit-form").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = {
      project: form.get("project"), name: form.get("name") || "job",
      accelerators: Number(form.get("accelerators")), estimate_s: Number(form.get("estimate_s")),
      checkpoint_s: Number(form.get("checkpoint_s") || 0),
      command: String(form.get("command")).split("\n").map((s) => s.trim()).filter((s) => s.length),
    };
    if (form.get("accelerator_type")) body.accelerator_type = form.get("accelerator_type");
    if (form.get("engine")) body.engine = form.get("engine");
    if (form.get("label")) body.label = Number(form.get("label")); // none: the job runs at its project's level
    try {
      const job = await api("POST", "/api/v1/jobs", body);
      show(`submitted ${job.id} (${job.status})${job.reason ? ": " + job.reason : ""}`);
      await refresh();
    } catch (e) { show(`refused: ${e.message}`, true); }
  };
  if (token()) signIn();
  setInterval(() => { if (token() && !$("jobs-section").hidden) refresh().catch(() => {}); }, 3000);
})();
