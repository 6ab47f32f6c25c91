// The dashboard's only script: copy buttons, and the new-key form showing the
// chosen project's APIs at once. Everything works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Screen readers hear what the button did through a polite live region.
  const status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  document.body.append(status);
  // Choosing a project loads its API catalog, keeping the name and
  // description typed so far (without the script, submitting shows it).
  for (const picker of document.querySelectorAll("select[data-project-picker]")) {
    picker.addEventListener("change", () => {
      const form = picker.form;
      const query = new URLSearchParams({ project_id: picker.value });
      for (const field of ["name", "description"]) {
        const value = form.elements[field]?.value;
        if (value) query.set(field, value);
      }
      window.location.assign(`/keys/new?${query}`);
    });
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
        status.textContent = "Copied to the clipboard.";
      } catch {
        button.textContent = "Copy failed: select the text";
        status.textContent = "Copying failed: select the text and copy it.";
      }
    });
  }
});
