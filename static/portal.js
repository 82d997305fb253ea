// The portal's only script, loaded from /static (the CSP refuses inline scripts and handlers).
// A button with data-copy="ID" copies the value of the field with that id (or the text of a <pre>,
// such as a code snippet); data-copy-status names
// an element that says so (otherwise the button's own label does).
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  try {
    await navigator.clipboard.writeText("value" in field ? field.value : field.textContent);
  } catch (error) {
    if (field.select) field.select();
    else window.getSelection().selectAllChildren(field);
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

// An htmx request that is refused (403, 404, 409, 413, 429, 5xx) or never reaches the server says so
// in the flash area, in place: nothing is swapped, and nothing is left silent.
const STATUS_WORDS = {
  403: "You may not do this.",
  404: "This is gone: it was removed, or is not yours to see. Reload the page.",
  409: "This changed meanwhile. Reload the page and try again.",
  413: "That is too large to send.",
  429: "Too many attempts. Wait a moment, then try again.",
};

function flashError(message) {
  const area = document.getElementById("flashes");
  if (!area) return;
  const note = document.createElement("p");
  note.className = "flash flash-error";
  note.setAttribute("role", "alert");
  note.textContent = message;
  area.replaceChildren(note);
  area.scrollIntoView({ block: "nearest" });
}

function serverMessage(xhr) {
  const type = xhr.getResponseHeader("content-type") || "";
  try {
    if (type.includes("json")) {
      const body = JSON.parse(xhr.responseText);
      if (body && typeof body.detail === "string") return body.detail;
    } else if (type.includes("html")) {
      const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      const said = page.querySelector("#error-message, [role=alert]");
      if (said && said.textContent.trim()) return said.textContent.trim();
    }
  } catch (error) {
    // fall back to the words for the status below
  }
  return null;
}

document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  const words = STATUS_WORDS[xhr.status] || `The server could not do this (error ${xhr.status}). Try again later.`;
  const said = xhr.status < 500 ? serverMessage(xhr) : null;
  flashError(said || words);
});

document.addEventListener("htmx:sendError", () => {
  flashError("The portal could not be reached: check your connection, then try again.");
});
