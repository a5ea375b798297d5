// The contract form. Only the payment plan chosen is shown (without JavaScript both show, and the choice decides).
// 添加一行 and 删除 change a list of rows (services, one-time fees, instalments) in the page: a row is a copy of the
// blank row in the list's <template>, and every row's fields are numbered from 0 again, as the server numbers them.
// Without JavaScript both buttons submit the form and the server redraws it with the row added or removed.
document.addEventListener("DOMContentLoaded", () => {
  const kind = document.getElementById("plan_kind");
  if (kind) {
    const show = () => document.querySelectorAll("[data-plan]").forEach((section) => {
      section.hidden = section.dataset.plan !== kind.value;
    });
    kind.addEventListener("change", show);
    show();
  }

  const renumber = (table) => {
    const list = table.dataset.rows;
    const numbered = new RegExp(`^${list}-(\\d+|__index__)-`);
    Array.from(table.tBodies[0].rows).forEach((row, position) => {
      row.querySelectorAll("input, select, textarea").forEach((field) => {
        field.name = field.name.replace(numbered, `${list}-${position}-`);
        field.id = field.id.replace(numbered, `${list}-${position}-`);
      });
      row.querySelector("[data-remove-row]").value = `remove:${list}-${position}`;
    });
  };

  const addRow = (list) => {
    const table = document.querySelector(`table[data-rows="${list}"]`);
    const template = document.querySelector(`template[data-row-template="${list}"]`);
    const row = template.content.querySelector("tr").cloneNode(true);
    table.tBodies[0].append(row);
    renumber(table);
    row.querySelector("input").focus();
  };

  const removeRow = (button) => {
    const table = button.closest("table[data-rows]");
    const row = button.closest("tr");
    if (table.tBodies[0].rows.length > 1) {
      row.remove();
    } else {  // the last row is emptied, as the server does: a list keeps one row to type into
      row.querySelectorAll("input").forEach((field) => { field.value = ""; });
      row.querySelectorAll(".error-text").forEach((error) => error.remove());
    }
    renumber(table);
    document.querySelector(`[data-add-row="${table.dataset.rows}"]`).focus();
  };

  document.addEventListener("click", (event) => {
    const add = event.target.closest("[data-add-row]");
    const remove = event.target.closest("[data-remove-row]");
    if (add) {
      event.preventDefault();
      addRow(add.dataset.addRow);
    } else if (remove && remove.closest("table[data-rows]")) {
      event.preventDefault();
      removeRow(remove);
    }
  });
});
