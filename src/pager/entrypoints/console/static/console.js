// Small enhancements; every page works without them.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  if (!field) return;
  field.select();
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => document.execCommand("copy") && done());
  } else if (document.execCommand("copy")) {
    done();
  }
});

document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// The policy editor: show the secret field for webhooks, and a placeholder per channel.
const placeholders = {
  user: "alice@example.com",
  schedule: "primary",
  email: "oncall@example.com",
  sms: "+14155550100",
  webhook: "https://hooks.example.com/pager",
  slack: "https://hooks.slack.com/services/…",
};
document.addEventListener("change", (event) => {
  const select = event.target.closest("[data-target-type]");
  if (!select) return;
  const row = select.closest(".target-row");
  const value = row.querySelector("[data-target-value]");
  const secret = row.querySelector("[data-target-secret]");
  if (value) value.placeholder = placeholders[select.value] || "";
  if (secret) secret.hidden = select.value !== "webhook";
});

// The header's menu closes when something else is tapped, or on Escape.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  const menu = event.key === "Escape" && document.querySelector("details.menu[open]");
  if (!menu) return;
  menu.open = false;
  menu.querySelector("summary").focus();
});

// The live pages are swapped in every few seconds: what the reader opened stays open.
let opened = [];
document.addEventListener("htmx:beforeSwap", () => {
  opened = Array.from(document.querySelectorAll("#live details[open][id]"), (d) => d.id);
});
document.addEventListener("htmx:afterSwap", () => {
  for (const id of opened) {
    const details = document.getElementById(id);
    if (details) details.open = true;
  }
});
