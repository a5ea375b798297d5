"""Every route × every role answers exactly its status: the table below is the specification of who may do what.

The columns are the roles: anonymous, each staff role, the customer of the contract and the customer of another
contract (its integration account on /api/v1, the person signed in at the identity provider on the pages). The ids in
the paths name the world of tests/security/world.py: {draft} (with sales), {review} (its legal task {legal_task}
open), {contract} (with its customer, the document prepared; {customer_task}; {contract_pages}: the rendering its page
images show) and {other} (another customer's).

Each row's calls run in the table's order; within a row, the roles the row refuses go first, so that the one call
that succeeds (a draft submitted, a task claimed) cannot change what the refused ones are told. A route without a row
fails the last test.
"""
from urllib.parse import urlsplit

import pytest

from tests.conftest import AUDIT_KEY, NO_RATE_LIMITS, Api, load_fixture
from tests.security.world import ROLES, build
from tests.web.customer_flow import LiveApp

pytestmark = pytest.mark.slow

# method  path                                                         anon sales legal fin prov admin cust other
TABLE = [
    # --- the API: bearer tokens, JSON errors ------------------------------------------------------------------------
    ("GET", "/api/v1/openapi.json",                                      200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/contracts",                                         401, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/v1/contracts",                                        401, 201, 403, 403, 403, 403, 403, 403),
    ("GET", "/api/v1/contracts?text=技术服务&canned=awaiting_customer&days=1",
                                                                         401, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/contracts/export.csv",                              401, 200, 200, 200, 200, 200, 403, 403),
    ("GET", "/api/v1/contracts/export.xlsx",                             401, 200, 200, 200, 200, 200, 403, 403),
    ("GET", "/api/v1/contracts/filters",                                 401, 200, 200, 200, 200, 200, 403, 403),
    ("POST", "/api/v1/contracts/filters",                                401, 422, 422, 422, 422, 422, 403, 403),
    ("DELETE", "/api/v1/contracts/filters/1",                            401, 404, 404, 404, 404, 404, 403, 403),
    ("GET", "/api/v1/contracts/{contract}",                              401, 200, 200, 200, 200, 200, 200, 404),
    ("GET", "/api/v1/contracts/{draft}",                                 401, 200, 200, 200, 200, 200, 404, 404),
    ("PATCH", "/api/v1/contracts/{draft}",                               401, 200, 403, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/contracts/{review}/submit",                        401, 409, 409, 409, 409, 409, 404, 404),
    ("GET", "/api/v1/contracts/{contract}/history",                      401, 200, 200, 200, 200, 200, 403, 403),
    ("GET", "/api/v1/contracts/{contract}/audit",                        401, 200, 200, 200, 200, 200, 403, 403),
    ("GET", "/api/v1/contracts/{contract}/versions/1",                   401, 200, 200, 200, 200, 200, 403, 403),
    ("GET", "/api/v1/contracts/{contract}/document.html",                401, 200, 200, 200, 200, 200, 200, 404),
    ("GET", "/api/v1/contracts/{draft}/document.html",                   401, 200, 200, 200, 200, 200, 404, 404),
    ("GET", "/api/v1/contracts/{contract}/document.pdf",                 401, 200, 200, 200, 200, 200, 200, 404),
    ("GET", "/api/v1/contracts/{contract}/package.pdf",                  401, 409, 409, 409, 409, 409, 409, 404),
    ("GET", "/api/v1/contracts/{contract}/letters",                      401, 200, 200, 200, 200, 200, 200, 404),
    ("PUT", "/api/v1/contracts/{contract}/letters/information_security", 401, 403, 403, 403, 403, 403, 422, 404),
    ("GET", "/api/v1/contracts/{contract}/signing",                      401, 200, 200, 200, 200, 200, 200, 404),
    ("GET", "/api/v1/contracts/{draft}/signing",                         401, 409, 409, 409, 409, 409, 404, 404),
    ("POST", "/api/v1/contracts/{contract}/intent",                      401, 409, 409, 409, 409, 409, 201, 404),
    ("POST", "/api/v1/contracts/{contract}/sign",                        401, 403, 403, 403, 403, 403, 409, 404),
    ("POST", "/api/v1/contracts/{contract}/decline",                     401, 403, 403, 403, 403, 403, 422, 404),
    ("POST", "/api/v1/contracts/{contract}/invitation",                  401, 200, 403, 403, 403, 200, 403, 403),
    ("POST", "/api/v1/contracts/{contract}/signer",                      401, 403, 403, 403, 403, 422, 403, 403),
    ("POST", "/api/v1/contact-changes/1/decision",                       401, 403, 403, 403, 403, 404, 403, 403),
    ("POST", "/api/v1/contracts/{contract}/renewal",                     401, 409, 403, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/contracts/{contract}/non-renewal",                 401, 409, 403, 403, 403, 409, 409, 404),
    ("POST", "/api/v1/contracts/{contract}/termination",                 401, 422, 403, 403, 403, 422, 403, 403),
    ("GET", "/api/v1/contracts/{contract}/amendments",                   401, 200, 200, 200, 200, 200, 200, 404),
    ("POST", "/api/v1/contracts/{contract}/amendments",                  401, 409, 403, 403, 403, 409, 409, 404),
    ("GET", "/api/v1/contracts/{contract}/amendments/1",                 401, 404, 404, 404, 404, 404, 404, 404),
    ("POST", "/api/v1/contracts/{contract}/amendments/1/answer",         401, 404, 403, 403, 403, 404, 404, 404),
    ("POST", "/api/v1/contracts/{contract}/amendments/1/intent",         401, 404, 404, 404, 404, 404, 404, 404),
    ("POST", "/api/v1/contracts/{contract}/amendments/1/sign",           401, 404, 404, 404, 404, 404, 404, 404),
    ("GET", "/api/v1/contracts/{contract}/amendments/1/document",        401, 404, 404, 404, 404, 404, 404, 404),
    ("GET", "/api/v1/contracts/{contract}/terms",                        401, 200, 200, 200, 200, 200, 200, 404),
    ("GET", "/api/v1/tasks",                                             401, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/v1/tasks/{legal_task}",                                401, 403, 200, 403, 403, 200, 404, 404),
    ("GET", "/api/v1/tasks/{customer_task}",                             401, 403, 403, 403, 403, 200, 200, 404),
    ("POST", "/api/v1/tasks/{legal_task}/claim",                         401, 403, 200, 403, 403, 403, 404, 404),
    ("POST", "/api/v1/tasks/{legal_task}/unclaim",                       401, 403, 200, 403, 403, 403, 404, 404),
    ("POST", "/api/v1/tasks/{customer_task}/claim",                      401, 403, 403, 403, 403, 403, 409, 404),
    ("POST", "/api/v1/tasks/{customer_task}/unclaim",                    401, 403, 403, 403, 403, 403, 409, 404),
    ("POST", "/api/v1/tasks/{legal_task}/delegate",                      401, 403, 422, 403, 403, 422, 404, 404),
    ("POST", "/api/v1/tasks/{legal_task}/intent",                        401, 403, 409, 403, 403, 409, 404, 404),
    ("POST", "/api/v1/tasks/{legal_task}/complete",                      401, 403, 422, 403, 403, 403, 404, 404),
    ("POST", "/api/v1/tasks/{customer_task}/complete",                   401, 403, 403, 403, 403, 403, 409, 404),
    ("POST", "/api/v1/tasks/{legal_task}/transfer",                      401, 403, 422, 403, 403, 422, 404, 404),
    ("POST", "/api/v1/tasks/{legal_task}/add-reviewer",                  401, 403, 422, 403, 403, 403, 404, 404),
    ("GET", "/api/v1/tasks/{legal_task}/send-back",                      401, 403, 200, 403, 403, 200, 404, 404),
    ("POST", "/api/v1/tasks/{legal_task}/send-back",                     401, 403, 422, 403, 403, 403, 404, 404),
    ("POST", "/api/v1/tasks/bulk-complete",                              401, 422, 422, 422, 422, 422, 422, 422),
    ("POST", "/api/v1/contracts/{review}/withdraw",                      401, 422, 403, 403, 403, 403, 403, 403),
    ("POST", "/api/v1/contracts/invitations/resend",                     401, 422, 403, 403, 403, 422, 403, 403),
    ("GET", "/api/v1/processes",                                         401, 200, 200, 200, 200, 200, 403, 403),
    ("GET", "/api/v1/contracts/{contract}/payments",                     401, 200, 200, 200, 200, 200, 403, 403),
    ("POST", "/api/v1/contracts/{contract}/payments",                    401, 403, 403, 422, 403, 403, 403, 403),
    ("GET", "/api/v1/payments/open",                                     401, 200, 200, 200, 200, 200, 403, 403),
    ("POST", "/api/v1/payments/import",                                  401, 403, 403, 422, 403, 403, 403, 403),
    ("GET", "/api/v1/dashboard",                                         401, 200, 200, 200, 403, 200, 403, 403),
    # --- staff pages: anonymous visitors and customers are sent to the sign-in page ----------------------------------
    ("GET", "/login",                                                    200, 302, 302, 302, 302, 302, 200, 200),
    ("POST", "/login",                                                   401, 401, 401, 401, 401, 401, 401, 401),
    ("GET", "/",                                                         302, 302, 302, 302, 302, 302, 302, 302),
    ("GET", "/favicon.ico",                                              200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/inbox",                                                    302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/contracts",                                                302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/contracts/export.csv",                                     302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/contracts?status=awaiting_customer&text=技术服务&canned=awaiting_customer&days=1",
                                                                         302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/contracts?min_total=abc",                                  302, 422, 422, 422, 422, 422, 302, 302),
    ("GET", "/contracts/export.xlsx",                                    302, 200, 200, 200, 200, 200, 302, 302),
    ("POST", "/contracts/filters",                                       302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/contracts/filters/1/delete",                              302, 404, 404, 404, 404, 404, 302, 302),
    ("GET", "/contracts/new",                                            302, 200, 403, 403, 403, 403, 302, 302),
    ("POST", "/contracts/new",                                           302, 200, 403, 403, 403, 403, 302, 302),
    ("GET", "/contracts/{contract}",                                     302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/contracts/{draft}/edit",                                   302, 200, 403, 403, 403, 403, 302, 302),
    ("POST", "/contracts/{draft}/edit",                                  302, 200, 403, 403, 403, 403, 302, 302),
    ("GET", "/contracts/{contract}/preview",                             302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/contracts/{contract}/diff?from=1&to=1",                    302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/api/v1/users/legal/absences",                              401, 403, 200, 403, 403, 200, 403, 403),
    ("POST", "/api/v1/users/legal/absences",                             401, 403, 422, 403, 403, 422, 403, 403),
    ("PUT", "/api/v1/users/legal/absences/1",                            401, 403, 404, 403, 403, 404, 403, 403),
    ("POST", "/api/v1/users/legal/absences/1/end",                       401, 403, 404, 403, 403, 404, 403, 403),
    ("POST", "/api/v1/users/legal/absences/hand-on",                     401, 403, 409, 403, 403, 409, 403, 403),
    ("GET", "/contracts/{contract}/document.pdf",                        302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/contracts/{contract}/package.pdf",                         302, 302, 302, 302, 302, 302, 302, 302),
    ("GET", "/contracts/{contract}/process.json",                        302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/contracts/{contract}/invitation",                          302, 200, 403, 403, 403, 200, 302, 302),
    ("POST", "/contracts/{contract}/invitation",                         302, 422, 403, 403, 403, 422, 302, 302),
    ("POST", "/contracts/{contract}/jobs/1/retry",                       302, 403, 403, 403, 403, 302, 302, 302),
    ("GET", "/payments",                                                 302, 200, 200, 200, 200, 200, 302, 302),
    ("GET", "/payments?contract={contract}",                             302, 200, 200, 200, 200, 200, 302, 302),
    ("POST", "/payments/record",                                         302, 403, 403, 422, 403, 403, 302, 302),
    ("POST", "/payments/import",                                         302, 403, 403, 422, 403, 403, 302, 302),
    ("POST", "/contracts/{contract}/renewal",                            302, 302, 403, 403, 403, 403, 302, 302),
    ("POST", "/contracts/{contract}/non-renewal",                        302, 302, 403, 403, 403, 302, 302, 302),
    ("POST", "/contracts/{contract}/termination",                        302, 302, 403, 403, 403, 302, 302, 302),
    ("POST", "/contracts/{contract}/amendments",                         302, 302, 403, 403, 403, 302, 302, 302),
    ("POST", "/contracts/{contract}/amendments/1/answer",                302, 302, 403, 403, 403, 403, 302, 302),
    ("GET", "/contracts/{contract}/amendments/1/document.pdf",           302, 404, 404, 404, 404, 404, 302, 302),
    ("GET", "/dashboard",                                                302, 200, 200, 200, 403, 200, 302, 302),
    ("GET", "/out-of-office",                                            302, 200, 200, 200, 200, 200, 302, 302),
    ("POST", "/out-of-office",                                           302, 422, 422, 422, 422, 422, 302, 302),
    ("POST", "/out-of-office/1/end",                                     302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/out-of-office/hand-on",                                   302, 302, 302, 302, 302, 302, 302, 302),
    ("GET", "/tasks/{legal_task}",                                       302, 403, 200, 403, 403, 200, 302, 302),
    ("GET", "/tasks/{customer_task}",                                    302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/tasks/{legal_task}/claim",                                302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/tasks/{legal_task}/unclaim",                              302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/tasks/{legal_task}/delegate",                             302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/tasks/{legal_task}/intent",                               302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/tasks/{legal_task}/decide",                               302, 302, 422, 302, 302, 302, 302, 302),
    ("POST", "/tasks/{legal_task}/transfer",                             302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/tasks/{legal_task}/add-reviewer",                         302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/tasks/{legal_task}/send-back",                            302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/contracts/{review}/withdraw",                             302, 302, 403, 403, 403, 403, 302, 302),
    ("POST", "/inbox/bulk",                                              302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/contracts/invitations/resend",                            302, 302, 403, 403, 403, 302, 302, 302),
    ("POST", "/tasks/{customer_task}/claim",                             302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/tasks/{customer_task}/decide",                            302, 302, 302, 302, 302, 302, 302, 302),
    ("GET", "/admin/users",                                              302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/admin/users",                                             302, 403, 403, 403, 403, 422, 302, 302),
    ("POST", "/admin/users/legal",                                       302, 403, 403, 403, 403, 302, 302, 302),
    ("GET", "/admin/departments",                                        302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/admin/departments",                                       302, 403, 403, 403, 403, 422, 302, 302),
    ("POST", "/admin/departments/1",                                     302, 403, 403, 403, 403, 302, 302, 302),
    ("POST", "/admin/departments/members",                               302, 403, 403, 403, 403, 302, 302, 302),
    ("GET", "/admin/jobs",                                               302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/admin/jobs/1/retry",                                      302, 403, 403, 403, 403, 302, 302, 302),
    ("GET", "/admin/working-days",                                       302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/admin/working-days",                                      302, 403, 403, 403, 403, 422, 302, 302),
    ("POST", "/admin/working-days/2027-02-08/delete",                    302, 403, 403, 403, 403, 302, 302, 302),
    ("GET", "/admin/templates",                                          302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/templates/technical_service/1",                      302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/templates/technical_service/new",                    302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/admin/templates/technical_service/new",                   302, 403, 403, 403, 403, 422, 302, 302),
    ("GET", "/admin/letters",                                            302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/letters/information_security/1",                     302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/letters/information_security/new",                   302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/admin/letters/information_security/new",                  302, 403, 403, 403, 403, 422, 302, 302),
    ("GET", "/admin/processes/",                                         302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/processes/contract_approval/",                       302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/processes/contract_approval/diff?from=1&to=1",       302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/processes/contract_approval/edit",                   302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/processes/contract_approval/edit/dmn/finance_routing.dmn",
                                                                         302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/processes/contract_approval/latest.json",            302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/admin/processes/contract_approval/deploy",                302, 403, 403, 403, 403, 400, 302, 302),
    ("GET", "/admin/processes/contract_approval/versions/1/download",    302, 403, 403, 403, 403, 200, 302, 302),
    ("GET", "/admin/processes/contract_approval/versions/1/instances",   302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/admin/processes/contract_approval/versions/1/redeploy",   302, 403, 403, 403, 403, 302, 302, 302),
    ("POST", "/admin/processes/contract_approval/migrate",               302, 403, 403, 403, 403, 302, 302, 302),
    ("GET", "/admin/processes/instances/1/trace.json",                   302, 403, 403, 403, 403, 200, 302, 302),
    ("POST", "/admin/processes/instances/1/resume",                      302, 403, 403, 403, 403, 302, 302, 302),
    # --- the customer's pages: a sign-in page (401) for anyone without a customer session --------------------------
    ("GET", "/portal",                                                   200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/invitations/not-a-token",                                  200, 200, 200, 200, 200, 200, 404, 404),
    ("POST", "/invitations/not-a-token",                                 200, 200, 200, 200, 200, 200, 404, 404),
    ("GET", "/sign/{contract}",                                          401, 401, 401, 401, 401, 401, 200, 404),
    ("POST", "/sign/{contract}",                                         401, 401, 401, 401, 401, 401, 409, 404),
    ("POST", "/sign/{contract}/decline",                                 401, 401, 401, 401, 401, 401, 422, 404),
    ("POST", "/sign/{contract}/intent",                                  401, 401, 401, 401, 401, 401, 302, 404),
    ("POST", "/sign/{contract}/non-renewal",                             401, 401, 401, 401, 401, 401, 409, 404),
    ("POST", "/sign/{contract}/amendments",                              401, 401, 401, 401, 401, 401, 409, 404),
    ("POST", "/sign/{contract}/amendments/1/answer",                     401, 401, 401, 401, 401, 401, 404, 404),
    ("GET", "/sign/{contract}/amendments/1",                             401, 401, 401, 401, 401, 401, 404, 404),
    ("POST", "/sign/{contract}/amendments/1/intent",                     401, 401, 401, 401, 401, 401, 404, 404),
    ("POST", "/sign/{contract}/amendments/1/sign",                       401, 401, 401, 401, 401, 401, 404, 404),
    ("GET", "/sign/{contract}/amendments/1/document.pdf",                401, 401, 401, 401, 401, 401, 404, 404),
    ("POST", "/sign/{contract}/letters/information_security",            401, 401, 401, 401, 401, 401, 422, 404),
    ("GET", "/sign/{contract}/preview",                                  401, 401, 401, 401, 401, 401, 200, 404),
    ("GET", "/sign/{contract}/document.pdf",                             401, 401, 401, 401, 401, 401, 200, 404),
    ("GET", "/sign/{contract}/pages/{contract_pages}/1.png",             401, 401, 401, 401, 401, 401, 200, 404),
    ("GET", "/sign/{contract}/package.pdf",                              401, 401, 401, 401, 401, 401, 409, 404),
    # --- signing in, the identity provider, public pages ------------------------------------------------------------
    ("GET", "/auth/oidc/login",                                          302, 302, 302, 302, 302, 302, 302, 302),
    ("GET", "/auth/oidc/callback",                                       400, 400, 400, 400, 400, 400, 400, 400),
    ("GET", "/idp/.well-known/openid-configuration",                     200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/idp/jwks.json",                                            200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/idp/",                                                     200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/idp/login",                                                200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/idp/login",                                               401, 401, 401, 401, 401, 401, 401, 401),
    ("GET", "/idp/authorize",                                            302, 302, 302, 302, 302, 302, 400, 400),
    ("POST", "/idp/authorize",                                           302, 302, 302, 302, 302, 302, 400, 400),
    ("POST", "/idp/token",                                               400, 400, 400, 400, 400, 400, 400, 400),
    ("GET", "/idp/userinfo",                                             401, 401, 401, 401, 401, 401, 401, 401),
    ("POST", "/idp/userinfo",                                            401, 401, 401, 401, 401, 401, 401, 401),
    ("GET", "/verify",                                                   200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/verify",                                                  422, 422, 422, 422, 422, 422, 422, 422),
    ("POST", "/tsa",                                                     401, 401, 401, 401, 401, 401, 401, 401),
    ("GET", "/healthz",                                                  200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/readyz",                                                   200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/static/app.css",                                           200, 200, 200, 200, 200, 200, 200, 200),
    # --- last: the draft is submitted --------------------------------------------------------------------------------
    ("POST", "/contracts/{draft}/submit",                                302, 302, 403, 403, 403, 403, 302, 302),
    ("POST", "/api/v1/contracts/{draft}/submit",                         401, 409, 409, 409, 409, 409, 404, 404),
]
SIGN_OUT = [  # each ends the session its CSRF token belongs to: the visitors take a fresh one before each
    ("POST", "/idp/logout",                                              302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/auth/oidc/logout",                                        302, 302, 302, 302, 302, 302, 302, 302),
    ("POST", "/logout",                                                  302, 302, 302, 302, 302, 302, 302, 302),
]
BODIES = {  # what a row sends (JSON to the API, a form to the pages; or what each role sends): enough to pass the door,
    # never a change but the one the row is about
    ("POST", "/api/v1/contracts"): load_fixture("contract-technical-service.json"),
    ("PATCH", "/api/v1/contracts/{draft}"): {"title": "南京市第一中学校园网络技术服务合同"},
    ("PUT", "/api/v1/contracts/{contract}/letters/information_security"): {"values": {"security_officer_name": ""}},
    ("POST", "/api/v1/contracts/{contract}/decline"): {"reason": ""},
    ("POST", "/api/v1/contracts/{contract}/termination"): {"effective_on": "", "reason": ""},
    ("POST", "/api/v1/contracts/{contract}/invitation"): {"action": "resend"},
    ("POST", "/api/v1/contracts/{contract}/signer"): {},
    ("POST", "/api/v1/contact-changes/1/decision"): {"approve": False},
    ("POST", "/api/v1/tasks/{legal_task}/delegate"): {"to": "nobody"},
    ("POST", "/api/v1/tasks/{legal_task}/transfer"): {"to": "nobody", "reason": "出差"},
    ("POST", "/api/v1/tasks/{legal_task}/add-reviewer"): {"reviewer": "nobody", "position": "before", "reason": "复核"},
    ("POST", "/api/v1/tasks/{legal_task}/send-back"): {"to": "nowhere", "comment": "再看"},
    ("POST", "/api/v1/tasks/bulk-complete"): {"task_ids": [], "decision": "approve"},
    ("POST", "/api/v1/users/legal/absences"): {"substitute": "legal", "starts_at": "", "ends_at": ""},
    ("PUT", "/api/v1/users/legal/absences/1"): {"version": 1},
    ("POST", "/api/v1/contracts/{review}/withdraw"): {"comment": "长" * 2001},
    ("POST", "/api/v1/contracts/invitations/resend"): {"contract_ids": []},
    ("POST", "/api/v1/tasks/{legal_task}/complete"): {"decision": "return"},
    ("POST", "/api/v1/tasks/{customer_task}/complete"): {"decision": "sign"},
    ("POST", "/login"): lambda role: {"username": f"nobody-{role}", "password": "wrong"},  # five failures lock one name
    ("POST", "/idp/login"): lambda role: {"username": f"nobody-{role}", "password": "wrong"},
    ("POST", "/contracts/new"): {"action": "add:items"},
    ("POST", "/contracts/{draft}/edit"): {"action": "add:items"},
    ("POST", "/contracts/{contract}/invitation"): {"action": "none"},
    ("POST", "/tasks/{legal_task}/delegate"): {"to": "nobody"},
    ("POST", "/tasks/{legal_task}/transfer"): {"to": "nobody", "reason": "出差"},
    ("POST", "/tasks/{legal_task}/add-reviewer"): {"reviewer": "nobody", "position": "before", "reason": "复核"},
    ("POST", "/tasks/{legal_task}/send-back"): {"to": "nowhere", "comment": "再看"},
    ("POST", "/contracts/{review}/withdraw"): {"comment": "长" * 2001},
    ("POST", "/tasks/{legal_task}/decide"): {"decision": "return"},
    ("POST", "/tasks/{customer_task}/decide"): {"decision": "sign"},
}


@pytest.fixture
def world(database_url, tmp_path):
    live = LiveApp(database_url, tmp_path, AUDIT_KEY=AUDIT_KEY, **NO_RATE_LIMITS)  # as in the app fixture
    yield live.app, *build(live.app)
    live.close()


def refused_first(statuses):
    """The roles of a row in the order they call: refusals (4xx) before the rest."""
    return sorted(ROLES, key=lambda role: statuses[role] < 400)


def test_every_route_answers_each_role_as_the_table_says(world):
    app, visitors, ids = world
    customers_see = [[c["id"] for c in visitors[role].call("GET", "/api/v1/contracts").json["items"]]
                     for role in ("customer", "other")]
    answers, expected = {}, {}
    for (method, path, *statuses), signs_out in [(row, False) for row in TABLE] + [(row, True) for row in SIGN_OUT]:
        row = f"{method} {path}"
        expected[row], answers[row] = dict(zip(ROLES, statuses)), {}
        for role in refused_first(expected[row]):
            if signs_out:
                visitors[role].keep_csrf("/idp/login")
            body = BODIES.get((method, path))
            response = visitors[role].call(method, path.format(**ids), body(role) if callable(body) else body)
            answers[row][role] = response.status_code
            assert response.status_code < 500, (row, role, response.get_data(as_text=True)[:500])
    wrong = [f"{row}: {role} got {answers[row][role]}, expected {expected[row][role]}"
             for row in expected for role in ROLES if answers[row][role] != expected[row][role]]
    assert not wrong, "\n".join(wrong)
    # a customer's list names only its own contract; no refused call changed a contract or a task
    assert customers_see == [[ids["contract"]], [ids["other"]]]
    api = Api(app.test_client(), app.extensions["qianyue"])
    statuses = [api.call("GET", f"/contracts/{ids[name]}", "admin").json["status"]
                for name in ("draft", "review", "contract", "other")]
    assert statuses == ["legal_review", "legal_review", "awaiting_customer", "awaiting_customer"]  # the draft submitted
    tasks = [api.call("GET", f"/tasks/{ids[name]}", "admin").json for name in ("legal_task", "customer_task")]
    assert [(task["state"], task["assignee"]) for task in tasks] == [("open", None), ("open", None)]


def test_every_route_has_a_row(app):
    """A route added without its row in the table fails here."""
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}
    adapter = app.url_map.bind("localhost")
    example = {"draft": 1, "review": 2, "contract": 3, "other": 4, "legal_task": "t", "customer_task": "t",
               "contract_pages": "0" * 64}
    tabled = {(adapter.match(urlsplit(path.format(**example)).path, method, return_rule=True)[0].rule, method)
              for method, path, *_statuses in TABLE + SIGN_OUT}
    assert not routes - tabled, f"add these routes to the table: {sorted(routes - tabled)}"
