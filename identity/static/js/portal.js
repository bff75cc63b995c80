// Portal behaviour that needs a script: copy buttons and the sign-up slug suggestion. Nothing inline (CSP).
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const text = source.value !== undefined ? source.value : source.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    if (source.select) { source.select(); document.execCommand("copy"); }
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

const orgName = document.getElementById("org_name");
const slug = document.getElementById("slug");
if (orgName && slug) {
  let edited = slug.value !== "";
  slug.addEventListener("input", () => { edited = true; check(); });
  orgName.addEventListener("input", () => {
    if (edited) return;
    slug.value = orgName.value.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/, "");
    check();
  });
  const status = document.getElementById("slug-status");
  let timer;
  function check() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!slug.value) { status.textContent = ""; return; }
      const response = await fetch("/signup/check-slug?slug=" + encodeURIComponent(slug.value));
      const body = await response.json();
      status.textContent = body.available ? "Available" : body.reason;
      status.className = body.available ? "ok" : "bad";
    }, 250);
  }
}
