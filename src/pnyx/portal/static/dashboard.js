// The dashboard's charts: drawn with the vendored uPlot from the figures the server put in the page
// (#dashboard-series, its data-series attribute); the tables beside them hold the same figures, so nothing is lost without
// JavaScript. The charts are hidden from screen readers (aria-hidden), who read the tables.
(() => {
  const data = JSON.parse(document.getElementById("dashboard-series").dataset.series);
  if (typeof uPlot === "undefined" || !data.x.length) return;
  const INK = "#1d2330", ACCENT = "#2f5bd3", PALE = "#8a9ac8", WARM = "#b0601e";
  const axes = [{ stroke: INK }, { stroke: INK }];
  const line = (label, stroke, extra = {}) => ({ label, stroke, width: 2, ...extra });
  const draw = (el, series, columns) => {
    const width = Math.max(240, el.clientWidth || 320);
    new uPlot({ width, height: 180, series: [{}, ...series], axes, legend: { show: true } }, [data.x, ...columns], el);
  };
  const charts = {
    utilisation: (el) => draw(el, [line("utilisation %", ACCENT)], [data.utilisation]),
    queue: (el) => draw(el, [line("waiting", WARM), line("running", ACCENT)], [data.waiting, data.running]),
    energy: (el) => draw(el, [line("kWh (estimate)", ACCENT, { fill: "rgba(47,91,211,0.12)" })], [data.energy]),
    state: (el) => {
      const s = data.states[el.dataset.state];
      if (s) draw(el, [line("received %", ACCENT), line("entitled %", PALE, { dash: [6, 4] })], [s.received, s.entitled]);
    },
  };
  for (const el of document.querySelectorAll(".chart[data-chart]")) charts[el.dataset.chart]?.(el);
  document.body.classList.add("charts-drawn");
})();
