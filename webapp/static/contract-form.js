// The contract form: only the payment plan chosen is shown (without JavaScript both show, and the choice decides).
document.addEventListener("DOMContentLoaded", () => {
  const kind = document.getElementById("plan_kind");
  if (!kind) return;
  const show = () => document.querySelectorAll("[data-plan]").forEach((section) => {
    section.hidden = section.dataset.plan !== kind.value;
  });
  kind.addEventListener("change", show);
  show();
});
