// Draws the dashboard's charts with ECharts from the figures the page embeds (#dashboard-charts); the tables beside
// each chart hold the same figures for readers without JavaScript.
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("dashboard-charts");
    if (!source || typeof echarts === "undefined") { return; }
    var specs = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var spec = specs[element.dataset.chart];
      if (!spec) { return; }
      var chart = echarts.init(element, null, { renderer: "svg" });
      chart.setOption({
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: spec.categories, axisLabel: { interval: 0, hideOverlap: true } },
        yAxis: { type: "value", name: spec.unit || "" },
        series: spec.series.map(function (series) {
          return { name: series.name, type: spec.kind, data: series.data, stack: spec.stack ? "all" : undefined,
                   label: { show: spec.kind === "bar" && !spec.stack, position: "top",
                            formatter: function (point) { return Number(point.value) ? point.value : ""; } } };
        })
      });
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (chart) { chart.resize(); }); });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
