// One reward-model run: the learning curve (from json_script) beside the annotators' agreement.
/* global Chart */
const canvas = document.getElementById("curve");
const curve = JSON.parse(document.getElementById("curve-data").textContent);
const ceiling = canvas.dataset.humanAgreement === "" ? null : Number(canvas.dataset.humanAgreement);

new Chart(canvas, {
  type: "line",
  data: {
    labels: curve.map((p) => p.step),
    datasets: [
      { label: "loss", data: curve.map((p) => p.loss), yAxisID: "loss", borderColor: "#c0392b", fill: false },
      { label: "validation accuracy", data: curve.map((p) => p.val_accuracy), yAxisID: "acc", borderColor: "#2471a3", fill: false },
      { label: "human agreement", data: curve.map(() => ceiling), yAxisID: "acc", borderDash: [5, 5], borderColor: "#7f8c8d", fill: false, pointRadius: 0 },
    ],
  },
  options: { scales: { yAxes: [{ id: "loss", position: "left" }, { id: "acc", position: "right", ticks: { min: 0, max: 1 } }] } },
});

// A run still training shows fresh numbers every few seconds.
if (canvas.dataset.running === "true") setTimeout(() => location.reload(), 3000);
