"""The change forms in Chinese: sales propose a change on the contract page (only what they changed is proposed, a bad
amount comes back named), the 补充协议 awaiting its signatures, the customer's page offers the answer, the
administrators' working-day calendar."""
from datetime import timedelta

from tests.lifecycle.helpers import active_contract, detail, sign_supplement, today
from tests.lifecycle.test_amendments import terms


def proposal_form(contract_id, data, **changed):
    """The form as the page fills it from the terms in force, with ``changed`` fields typed over."""
    form = {"total": data["total"], "term_end": data["term"]["end"], "reason": "增加驻场运维"}
    for index, item in enumerate(data["items"]):
        form.update({f"items-{index}-{key}": item.get(key) or "" for key in ("name", "content", "amount")})
    for index, row in enumerate(data["payment_plan"]["installments"]):
        form.update({f"plan-{index}-{key}": row[key] for key in ("due_date", "amount")})
    form.update(changed)
    return form


def test_sales_propose_on_the_contract_page_and_see_it_answered(api, as_user):
    contract_id = active_contract(api, days_left=200)
    sales = as_user("sales")
    page = sales.get(f"/contracts/{contract_id}").get_data(as_text=True)
    for text in ("变更（补充协议）", "尚无变更", "提出变更", "变更理由"):
        assert text in page, text
    current = terms(api, contract_id)
    bad = sales.post(f"/contracts/{contract_id}/amendments", proposal_form(contract_id, current, total="12万"),
                     page=f"/contracts/{contract_id}", follow_redirects=True).get_data(as_text=True)
    assert "尚无变更" in bad and "合同总金额（含税，元）：" in bad  # named as the form names it; nothing proposed
    due = (today() + timedelta(days=60)).isoformat()
    done = sales.post(f"/contracts/{contract_id}/amendments", proposal_form(
        contract_id, current, **{"items-0-amount": "120000.00", "total": "120000.00", "plan-0-due_date": due,
                                 "plan-0-amount": "120000.00"}), page=f"/contracts/{contract_id}",
        follow_redirects=True).get_data(as_text=True)
    assert "已提出补充协议1" in done and "待答复" in done and "合同总金额：由 ¥100,000.00 改为 ¥120,000.00" in done
    (amendment,) = api.call("GET", f"/contracts/{contract_id}/amendments", "sales").json["items"]
    assert set(amendment["changes"]) == {"items", "total", "payment_plan"}  # the term end was left as it was
    answered = api.call("POST", f"/contracts/{contract_id}/amendments/1/answer", "customer", {"decision": "agree"})
    assert answered.status_code == 200, answered.json
    api.run_jobs()
    page = sales.get(f"/contracts/{contract_id}").get_data(as_text=True)
    assert "待签署" in page and "等待甲方签署" in page and f"/contracts/{contract_id}/amendments/1/document.pdf" in page
    sign_supplement(api, contract_id)
    page = sales.get(f"/contracts/{contract_id}").get_data(as_text=True)
    assert "现行条款" in page and "已生效" in page and "¥120,000.00" in page and "（经补充协议变更）" in page
    assert detail(api, contract_id)["total"] == "120000.00"


def test_the_customers_change_waits_in_the_sales_inbox_and_is_answered_on_the_task_page(api, as_user):
    contract_id = active_contract(api, days_left=200)
    body = {"changes": {"term_end": (today() + timedelta(days=300)).isoformat()}, "reason": "延长服务期"}
    assert api.call("POST", f"/contracts/{contract_id}/amendments", "customer", body).status_code == 201
    sales = as_user("sales")
    assert "乙方答复变更" in sales.get("/inbox").get_data(as_text=True)
    (task,) = api.call("GET", f"/tasks?contract_id={contract_id}&role=sales", "sales").json["items"]
    page = sales.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "乙方答复变更" in page and "同意" in page and "拒绝" in page
    refused = sales.post(f"/tasks/{task['id']}/decide", {"decision": "refuse", "comment": "暂不延长"},
                         page=f"/tasks/{task['id']}", follow_redirects=True)
    assert refused.status_code == 200
    (amendment,) = api.call("GET", f"/contracts/{contract_id}/amendments", "sales").json["items"]
    assert (amendment["status"], amendment["answer_comment"], amendment["answered_by"]) == ("refused", "暂不延长", "王敏")


def test_administrators_mark_working_days(as_user):
    admin = as_user("admin")
    page = admin.get("/admin/working-days").get_data(as_text=True)
    assert "工作日" in page and "2026" in page
    refused = admin.post("/admin/working-days", {"day": "2027-02-30", "kind": "off"}, page="/admin/working-days")
    assert refused.status_code == 422 and "不是有效的日期" in refused.get_data(as_text=True)
    saved = admin.post("/admin/working-days", {"day": "2027-02-08", "kind": "off", "note": "春节"},
                       page="/admin/working-days", follow_redirects=True).get_data(as_text=True)
    assert "春节" in saved and 'id="override-2027-02-08"' in saved
    removed = admin.post("/admin/working-days/2027-02-08/delete", {}, page="/admin/working-days",
                         follow_redirects=True).get_data(as_text=True)
    assert 'id="override-2027-02-08"' not in removed
    assert as_user("sales").get("/admin/working-days").status_code == 403


def test_the_amendment_process_is_listed_and_opens_in_the_modeler(as_user):
    admin = as_user("admin")
    assert "合同变更（补充协议）" in admin.get("/admin/processes/").get_data(as_text=True)
    modeler = admin.get("/admin/processes/contract_amendment/edit")
    assert modeler.status_code == 200 and "contract_amendment" in modeler.get_data(as_text=True)
