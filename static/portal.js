// The portal's only script, loaded from /static (the CSP refuses inline scripts and handlers).
// A button with data-copy="ID" copies the value of the field with that id; data-copy-status names
// an element that says so (otherwise the button's own label does).
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  try {
    await navigator.clipboard.writeText(field.value);
  } catch (error) {
    field.select();
    document.execCommand("copy");
  }
  const status = button.dataset.copyStatus && document.getElementById(button.dataset.copyStatus);
  if (status) {
    status.textContent = "Copied to the clipboard.";
  } else {
    button.textContent = "Copied";
  }
});

// A read-only field with data-select-on-focus selects its whole value when focused (links to copy).
document.addEventListener("focusin", (event) => {
  if (event.target.matches && event.target.matches("input[data-select-on-focus]")) event.target.select();
});
