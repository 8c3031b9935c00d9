// carehub dashboard: plain browser JavaScript, no build step. Everything shown comes from the API
// with the signed-in user's token; text is inserted with textContent only (never as HTML).
"use strict";

const METRICS = JSON.parse(document.getElementById("metrics").textContent);
const READINGS_REFRESH_MS = 15000;
const STREAM_RETRY_MAX_MS = 30000;

const state = {
  access: sessionStorage.getItem("carehub.access"),
  refresh: sessionStorage.getItem("carehub.refresh"),
  patients: new Map(), // id -> {patient, latest, alerts}
  streamAbort: null,
  timer: null,
};

function $(id) { return document.getElementById(id); }

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function saveTokens(body) {
  state.access = body.access_token;
  state.refresh = body.refresh_token;
  sessionStorage.setItem("carehub.access", state.access);
  sessionStorage.setItem("carehub.refresh", state.refresh);
}

function forgetTokens() {
  state.access = state.refresh = null;
  sessionStorage.removeItem("carehub.access");
  sessionStorage.removeItem("carehub.refresh");
}

async function refreshTokens() {
  if (!state.refresh) return false;
  const response = await fetch("/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: state.refresh }),
  });
  if (!response.ok) return false;
  saveTokens(await response.json());
  return true;
}

// GET with the access token; one refresh-and-retry on 401, then back to the sign-in form.
async function api(path, options = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = { ...(options.headers || {}), Authorization: `Bearer ${state.access}` };
    const response = await fetch(path, { ...options, headers });
    if (response.status !== 401) return response;
    if (attempt === 0 && (await refreshTokens())) continue;
    signedOut("Your session ended; please sign in again.");
    throw new Error("signed out");
  }
  throw new Error("unreachable");
}

async function getJson(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function metricLabel(code) {
  const spec = METRICS[String(code)];
  return spec ? spec.name.replace(/^MDC_/, "").toLowerCase().replaceAll("_", " ") : `metric ${code}`;
}

function time(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function renderPatients() {
  const body = $("patients");
  body.replaceChildren();
  for (const entry of state.patients.values()) {
    const { patient, latest, alerts } = entry;
    const row = element("tr");
    row.append(element("td", patient.mrn));
    row.append(element("td", [patient.given_name, patient.family_name].filter(Boolean).join(" ")));
    const readings = element("td");
    if (!latest.length) readings.append(element("span", "no readings yet", "muted"));
    for (const r of latest) {
      const value = r.value === null ? r.special : r.value;
      const line = element("div", `${metricLabel(r.metric)}: ${value} ${r.unit} `);
      line.append(element("span", time(r.measured_at), "muted"));
      readings.append(line);
    }
    row.append(readings);
    const count = element("td");
    if (alerts > 0) count.append(element("span", alerts, "badge"));
    row.append(count);
    body.append(row);
  }
  $("patient-count").textContent = `(${state.patients.size})`;
}

async function loadLatest(patientId) {
  const entry = state.patients.get(patientId);
  if (entry) entry.latest = await getJson(`/patients/${patientId}/readings/latest`);
}

async function loadPatients() {
  const page = await getJson("/patients?limit=200");
  const seen = new Set();
  for (const patient of page.items) {
    seen.add(patient.id);
    const entry = state.patients.get(patient.id) || { latest: [], alerts: 0 };
    state.patients.set(patient.id, { ...entry, patient });
  }
  for (const id of [...state.patients.keys()]) if (!seen.has(id)) state.patients.delete(id);
  await Promise.all([...state.patients.keys()].map(loadLatest));
}

async function loadAlerts() {
  const alerts = await getJson("/alerts");
  const body = $("alerts");
  body.replaceChildren();
  for (const entry of state.patients.values()) entry.alerts = 0;
  for (const alert of alerts) {
    if (alert.subject_kind === "patient" && state.patients.has(alert.subject)) {
      state.patients.get(alert.subject).alerts += 1;
    }
    const row = element("tr");
    row.append(element("td", alert.severity, alert.severity));
    row.append(element("td", alert.rule_id));
    row.append(element("td", alert.status));
    row.append(element("td", time(alert.opened_at)));
    body.append(row);
  }
  $("alert-count").textContent = `(${alerts.length})`;
}

async function refreshAll() {
  await loadPatients();
  await loadAlerts();
  renderPatients();
}

function logEvent(data) {
  const item = element("li");
  item.append(element("span", data.severity, data.severity));
  item.append(document.createTextNode(` ${data.rule_id} ${data.change} `));
  item.append(element("span", new Date().toLocaleTimeString(), "muted"));
  const list = $("events");
  list.prepend(item);
  while (list.children.length > 50) list.lastChild.remove();
}

async function onAlertEvent(data) {
  logEvent(data);
  if (data.patient_id && state.patients.has(data.patient_id)) await loadLatest(data.patient_id);
  await loadAlerts();
  renderPatients();
}

// Server-sent events over fetch (EventSource cannot send an Authorization header).
async function followStream() {
  let retryMs = 1000;
  while (state.access) {
    const abort = new AbortController();
    state.streamAbort = abort;
    try {
      const response = await api("/alerts/stream", { signal: abort.signal });
      if (!response.ok) throw new Error(`stream: ${response.status}`);
      $("stream-state").textContent = "live";
      retryMs = 1000;
      await refreshAll(); // whatever changed while we were not listening
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trim());
          }
          if (event === "alert" && data.length) await onAlertEvent(JSON.parse(data.join("\n")));
        }
      }
    } catch (error) {
      if (!state.access) return;
    }
    $("stream-state").textContent = "reconnecting…";
    await new Promise((resolve) => setTimeout(resolve, retryMs));
    retryMs = Math.min(retryMs * 2, STREAM_RETRY_MAX_MS);
  }
}

function signedOut(message) {
  forgetTokens();
  if (state.streamAbort) state.streamAbort.abort();
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("error").textContent = message || "";
  $("stream-state").textContent = "";
}

async function signedIn() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  await refreshAll();
  followStream();
  // Readings arrive far more often than alerts and have no stream: poll them.
  if (!state.timer) state.timer = setInterval(() => { if (state.access) refreshAll().catch(() => {}); }, READINGS_REFRESH_MS);
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("error").textContent = "";
  const response = await fetch("/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: $("email").value, password: $("password").value }),
  });
  if (!response.ok) {
    $("error").textContent = response.status === 429 ? "Too many attempts; wait a minute." : "Invalid credentials.";
    return;
  }
  saveTokens(await response.json());
  $("password").value = "";
  await signedIn();
});

$("sign-out").addEventListener("click", async () => {
  if (state.refresh) {
    await fetch("/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: state.refresh }),
    });
  }
  signedOut();
});

if (state.access) signedIn().catch(() => signedOut()); else signedOut();
