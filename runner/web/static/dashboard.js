// coffee-runner dashboard: heatmap cells (hover, click) and live backfill progress.
// Plain JavaScript, no library; the page works without it except for these two.
"use strict";

(function heatmap() {
  const holder = document.getElementById("page-data");
  if (!holder) return;
  const data = JSON.parse(holder.textContent);
  const hover = document.getElementById("hover");

  function cellAt(target) {
    if (target.tagName !== "I" || !target.className || !target.parentElement.classList.contains("cells")) return null;
    const row = target.parentElement.parentElement;
    const index = Array.prototype.indexOf.call(target.parentElement.children, target);
    const code = target.className.charAt(0);
    const why = target.dataset.w !== undefined ? Number(target.dataset.w) : data.defaults[code];
    return { roaster: row.dataset.roaster, day: data.days[index], status: data.statuses[code],
             reason: data.reasons[why] || "" };
  }

  function linked(cell) {
    return data.linkAll || cell.status !== "complete";
  }

  document.addEventListener("mouseover", function (event) {
    const cell = cellAt(event.target);
    if (!cell) return;
    const text = cell.roaster + " " + cell.day + ": " + cell.status.replace(/_/g, " ") +
      (cell.reason ? " (" + cell.reason + ")" : "");
    event.target.title = text;
    hover.textContent = text;
  });

  document.addEventListener("click", function (event) {
    const cell = cellAt(event.target);
    if (!cell || !linked(cell)) return;
    window.location.href = data.dayHref.replace("{r}", encodeURIComponent(cell.roaster)).replace("{d}", cell.day);
  });
})();

(function liveBackfills() {
  if (!document.body.dataset.live) return;
  const POLL_MS = 1000;
  const url = window.location.pathname + "?format=json";

  function pct(x) { return (x * 100).toFixed(0) + "%"; }

  function show(box, b) {
    const p = b.progress;
    box.querySelector(".bar").style.width = (p.share * 100).toFixed(1) + "%";
    box.querySelector(".progress").setAttribute("aria-valuenow", p.finished);
    box.querySelector(".finished").textContent = p.finished;
    box.querySelector(".total").textContent = p.total;
    box.querySelector(".rate").textContent = p.items_per_second.toFixed(2);
    box.querySelector(".eta").textContent = p.eta_seconds === null ? "—" : p.eta_seconds.toFixed(0) + " s";
    const failures = box.querySelector(".failure-rate");
    failures.textContent = pct(p.failure_rate);
    failures.classList.toggle("over", p.failure_rate > p.max_failure_rate);
  }

  function update(doc) {
    const list = doc.backfills || [doc.backfill];
    let running = false;
    for (const b of list) {
      running = running || b.status === "running";
      const box = doc.backfill ? document.getElementById("live") : document.querySelector('tr[data-id="' + b.id + '"]');
      if (box) show(box, b);
    }
    if (!running) { window.location.reload(); return; }  // finished: the page shows the outcome
    window.setTimeout(poll, POLL_MS);
  }

  function poll() {
    fetch(url, { cache: "no-store" }).then(function (r) { return r.json(); }).then(update)
      .catch(function () { window.setTimeout(poll, POLL_MS * 5); });
  }
  window.setTimeout(poll, POLL_MS);
})();
