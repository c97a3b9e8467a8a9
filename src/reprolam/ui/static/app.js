// reprolam UI: small enhancements over server-rendered pages. Served from /static (the CSP
// allows no inline script). Nothing here builds HTML from data: only navigation, copying
// and a status poll.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const main = document.querySelector("main");
  const run = main ? main.dataset.run : undefined;

  // Trace picture: each step box opens its step page.
  if (run) {
    for (const step of document.querySelectorAll("#trace svg g.step")) {
      step.addEventListener("click", () => {
        window.location.href = `/runs/${encodeURIComponent(run)}/steps/${step.dataset.index}`;
      });
    }
  }

  // Copy buttons.
  for (const button of document.querySelectorAll("button.copy-button")) {
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = "copied";
      } catch (err) {
        button.textContent = "select and copy";
      }
      setTimeout(() => { button.textContent = "copy"; }, 1500);
    });
  }

  // A running run's page reloads when a step is recorded or the run ends.
  if (run && main.dataset.live === "1") {
    const known = main.dataset.steps;
    const poll = async () => {
      try {
        const response = await fetch(`/api/runs/${encodeURIComponent(run)}/live`);
        if (response.ok) {
          const live = await response.json();
          if (String(live.steps) !== known || live.status !== "running") {
            window.location.reload();
            return;
          }
        }
      } catch (err) {
        // the server may be restarting: try again on the next tick
      }
      setTimeout(poll, 1500);
    };
    setTimeout(poll, 1500);
  }
});
