// The bench page: one self-contained HTML document (no external resources, the bench
// network may have no internet), French labels. It reads the list from
// `/api/events` (server-sent events: the whole list on connect, again after each change)
// and redraws the table; the browser reconnects by itself when the stream ends.
// Re-arming an installed PC (its next network boot installs again, erasing its disk) is a
// POST /rearm with the admin token as `Authorization: Bearer …`: the page asks for the
// token once (a password field), keeps it in this tab's sessionStorage, and forgets it
// when the server refuses it. A header no other site can make a browser send.
// Kept as a Swift string rather than a bundle resource: nothing to locate at run time,
// and the installed binary stays a single file.

enum BenchPage {
    static let html = #"""
<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tableau de l'atelier — garage-pxe</title>
<style>
  :root { --ok: #2e7d32; --run: #1565c0; --bad: #c62828; --stuck: #e65100; --grey: #cfd8dc; --ink: #1c2429; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.4 system-ui, "DejaVu Sans", sans-serif; color: var(--ink); background: #f4f6f7; }
  header { display: flex; align-items: baseline; gap: 1.5em; padding: .8em 1.2em; background: var(--ink); color: #fff; }
  header h1 { margin: 0; font-size: 1.3em; }
  #live { margin-left: auto; font-size: .9em; }
  #live::before { content: "●"; margin-right: .35em; color: #9e9e9e; }
  #live.on::before { color: #66bb6a; }
  #live.off::before { color: #ef5350; }
  main { padding: 1em 1.2em; }
  table { width: 100%; border-collapse: collapse; background: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
  th, td { padding: .5em .7em; text-align: left; border-bottom: 1px solid #e3e7ea; vertical-align: middle; }
  th { background: #eceff1; font-weight: 600; white-space: nowrap; }
  td.mac { font-family: "DejaVu Sans Mono", monospace; white-space: nowrap; }
  .small { font-size: .85em; color: #546e7a; }
  .bar { display: flex; gap: 2px; min-width: 220px; }
  .bar span { flex: 1; height: 14px; background: var(--grey); border-radius: 2px; }
  .bar span.done { background: var(--ok); }
  .bar span.now { background: var(--run); }
  tr.failed .bar span.now { background: var(--bad); }
  tr.failed td { background: #ffebee; }
  tr.failed .result, .failure { color: var(--bad); font-weight: 600; }
  .result.delivered, .result.finished { color: var(--ok); font-weight: 600; }
  .result.installing { color: var(--run); font-weight: 600; }
  tr.stalled td { background: #fff3e0; }
  tr.stalled .bar span.now { background: var(--stuck); }
  .result.stalled, .stalled-reason { color: var(--stuck); font-weight: 600; }
  #warnings { margin: 1em 0; padding: 1em; background: #ffebee; color: #b71c1c; border: 2px solid #b71c1c; font-weight: 600; }
  #empty { padding: 2em; text-align: center; color: #607d8b; }
  button.rearm { margin-top: .3em; font-size: .85em; }
  #notice { margin: 1em 0; padding: .7em 1em; background: #e3f2fd; border: 1px solid #1565c0; }
  #notice.bad { background: #ffebee; border-color: #b71c1c; color: #b71c1c; }
</style>
</head>
<body>
<header>
  <h1>Tableau de l'atelier</h1>
  <span class="small" style="color:#b0bec5">Postes vus ces dernières 24 h</span>
  <a id="csv" href="/machines.csv" style="color:#fff">Registre des postes (CSV)</a>
  <a id="site-key" href="/site-key" style="color:#b0bec5">Clé publique des certificats</a>
  <span id="live">connexion…</span>
</header>
<main>
  <div id="warnings" hidden></div>
  <div id="notice" hidden></div>
  <dialog id="token-dialog">
    <form method="dialog">
      <p>Jeton d'administration (fichier <code>admin-token</code> du dossier d'état du serveur,
      lisible par root : <code>sudo cat /var/lib/garage-pxe/admin-token</code>)</p>
      <input type="password" id="admin-token" autocomplete="off" size="70">
      <button value="ok" id="token-ok">Valider</button> <button value="cancel">Annuler</button>
    </form>
  </dialog>
  <table>
    <thead><tr>
      <th>Poste</th><th>Machine</th><th>Progression</th><th>Étape</th><th>Démarré</th><th>Durée</th><th>Résultat</th>
    </tr></thead>
    <tbody id="machines"></tbody>
  </table>
  <div id="empty">Aucun poste vu ces dernières 24 h.</div>
</main>
<script>
"use strict";
const STAGES = {
  "dhcp.offer": "DHCP", "tftp.sent": "TFTP", "menu.shown": "Menu affiché", "menu.chosen": "Entrée choisie",
  "image.sent": "Noyau envoyé", "installer.started": "Installateur démarré", "installer.step": "Installation",
  "installer.finished": "Installation terminée", "postinstall": "Post-installation", "machine.delivered": "Premier démarrage"
};
const RESULTS = { delivered: "Livré", finished: "Terminé", failed: "Échec", installing: "En cours", stalled: "Bloqué", seen: "Vu" };
// Still open: the elapsed time keeps counting.
const OPEN = result => result === "installing" || result === "stalled";
let latest = null, receivedAt = 0;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}
function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  const two = n => String(n).padStart(2, "0");
  return h > 0 ? h + " h " + two(m) + " min" : m + " min " + two(s) + " s";
}
function clock(micro) {
  const d = new Date(micro / 1000), time = d.toLocaleTimeString("fr-FR", { hour: "2-digit", minute: "2-digit" });
  // Yesterday's machines say which day.
  return d.toDateString() === new Date().toDateString() ? time : d.toLocaleDateString("fr-FR", { day: "2-digit", month: "2-digit" }) + " " + time;
}
function elapsed(row) {
  const s = row.summary;
  // Still installing: count up from the server's clock at the last update.
  const end = OPEN(s.result) ? latest.generatedMicroseconds + (Date.now() - receivedAt) * 1000 : s.lastEventMicroseconds;
  return (end - s.startedMicroseconds) / 1e6;
}
function render() {
  const body = document.getElementById("machines");
  const rows = latest.machines.map(row => {
    const s = row.summary, tr = el("tr", row.failure ? "failed" : s.result === "stalled" ? "stalled" : "");
    tr.dataset.mac = s.mac;
    tr.dataset.stage = row.stage || "";
    tr.dataset.result = s.result;
    const poste = el("td", "mac");
    // The PC's page: its record from intake to delivery, inventory, erase, certificate.
    const page = el("a", "record", s.mac);
    page.href = "/machines/" + encodeURIComponent(s.mac);
    poste.appendChild(page);
    if (s.ip) { poste.appendChild(el("br")); poste.appendChild(el("span", "small", s.ip)); }
    const machine = el("td", "", [s.manufacturer, s.product].filter(Boolean).join(" ") || "—");
    if (s.serial) { machine.appendChild(el("br")); machine.appendChild(el("span", "small", "n° de série " + s.serial)); }
    const bar = el("div", "bar");
    latest.stages.forEach((stage, i) => {
      // The last stage reached is "now", except the very last one: a delivered PC is done.
      const done = i < row.stagePosition || (i === row.stagePosition && i === latest.stages.length - 1);
      const cell = el("span", done ? "done" : i === row.stagePosition ? "now" : "");
      cell.title = STAGES[stage] || stage;
      bar.appendChild(cell);
    });
    const progress = el("td"); progress.appendChild(bar);
    const stage = el("td", "step", STAGES[row.stage] || row.stage || "—");
    if (row.failure) {
      stage.appendChild(el("br"));
      stage.appendChild(el("span", "failure", "Échec à l'étape « " + row.failure.step + " »" + (row.failure.reason ? " : " + row.failure.reason : "")));
    } else if (s.result === "stalled") {
      // The one a person must go and look at: why, in the words the journal has.
      stage.appendChild(el("br"));
      stage.appendChild(el("span", "stalled-reason", "bloqué : " + (s.stalledReason || "raison inconnue")));
      if (row.step) { stage.appendChild(el("br")); stage.appendChild(el("span", "small", row.step)); }
    } else if (row.step && row.stage === "installer.step") {
      stage.appendChild(el("br")); stage.appendChild(el("span", "small", row.step));
    }
    const result = el("td", "result " + s.result, RESULTS[s.result] || s.result);
    if (s.installCount > 1) { result.appendChild(el("br")); result.appendChild(el("span", "small", s.installCount + " installations")); }
    if (s.result === "finished" || s.result === "delivered") {
      // Installed: its network boot defaults to the local disk until re-armed.
      const button = el("button", "rearm", "Réinstaller au prochain démarrage");
      button.type = "button";
      button.addEventListener("click", () => rearm(s.mac));
      result.appendChild(el("br")); result.appendChild(button);
    }
    const time = el("td", "elapsed", duration(elapsed(row)));
    [poste, machine, progress, stage, el("td", "", clock(s.startedMicroseconds)), time, result].forEach(td => tr.appendChild(td));
    return tr;
  });
  body.replaceChildren(...rows);
  const warnings = document.getElementById("warnings");
  warnings.replaceChildren(...(latest.warnings || []).map(w => el("div", "", w)));
  warnings.hidden = !(latest.warnings || []).length;
  document.getElementById("empty").hidden = rows.length > 0;
}
const TOKEN_KEY = "garage-pxe-admin-token";
function notice(text, bad) {
  const n = document.getElementById("notice");
  n.textContent = text; n.className = bad ? "bad" : ""; n.hidden = false;
}
function askToken() {
  return new Promise(resolve => {
    const dialog = document.getElementById("token-dialog"), input = document.getElementById("admin-token");
    input.value = ""; dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      const token = input.value.trim(); input.value = "";
      resolve(dialog.returnValue === "ok" && token ? token : null);
    }, { once: true });
    dialog.showModal();
  });
}
async function rearm(mac) {
  let token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) { token = await askToken(); if (!token) return; }
  let response;
  try {
    response = await fetch("/rearm?mac=" + encodeURIComponent(mac) + "&by=bench",
                           { method: "POST", headers: { "Authorization": "Bearer " + token } });
  } catch (e) { notice("Serveur injoignable : " + e, true); return; }
  if (response.status === 403) {
    sessionStorage.removeItem(TOKEN_KEY);
    notice("Jeton d'administration refusé : " + mac + " n'est pas réarmé.", true);
  } else if (response.ok) {
    sessionStorage.setItem(TOKEN_KEY, token);
    notice(mac + " : réarmé, son prochain démarrage réseau lance l'installation automatique (efface le disque).");
  } else {
    notice("Erreur " + response.status + " : " + (await response.text()), true);
  }
}
function show(list) {
  latest = list; receivedAt = Date.now();
  render();
}
function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.addEventListener("machines", e => { show(JSON.parse(e.data)); });
  source.onopen = () => { live.textContent = "en direct"; live.className = "on"; };
  source.onerror = () => { live.textContent = "reconnexion…"; live.className = "off"; };
}
// The running durations tick between updates.
setInterval(() => {
  if (!latest) return;
  document.querySelectorAll("#machines tr").forEach((tr, i) => {
    const row = latest.machines[i];
    if (row && OPEN(row.summary.result)) tr.querySelector("td.elapsed").textContent = duration(elapsed(row));
  });
}, 1000);
connect();
</script>
</body>
</html>
"""#
}
