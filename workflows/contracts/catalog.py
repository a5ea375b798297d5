"""Reference data the rules depend on: service types, contract templates, demo provider profiles.

Kept as plain data so a rate change is a one-line diff that reviewers can read.
"""

from decimal import Decimal

VALUE_ADDED_RATE = Decimal("0.06")  # 增值电信服务、现代服务业
BASIC_TELECOM_RATE = Decimal("0.09")  # 基础电信服务

NETWORK_ACCESS_LETTER = "用户入网责任书"
SECURITY_LETTER = "网络及信息安全承诺书"

SERVICE_TYPES = {
    "internet_line": {"title_zh": "互联网专线", "title_en": "Dedicated internet line",
                      "tax_rate": VALUE_ADDED_RATE, "network_access": True},
    "vpn_line": {"title_zh": "VPN专线", "title_en": "VPN line",
                 "tax_rate": VALUE_ADDED_RATE, "network_access": True},
    "egov_network": {"title_zh": "电子政务网", "title_en": "E-government network",
                     "tax_rate": VALUE_ADDED_RATE, "network_access": True},
    "idc": {"title_zh": "机房/IDC", "title_en": "Data centre (IDC)",
            "tax_rate": VALUE_ADDED_RATE, "network_access": True},
    "voice_line": {"title_zh": "语音专线", "title_en": "Voice line",
                   "tax_rate": BASIC_TELECOM_RATE, "network_access": False},
    "technical_service": {"title_zh": "技术服务", "title_en": "Technical service",
                          "tax_rate": VALUE_ADDED_RATE, "network_access": False},
}

# number_kind and number_suffix frame the contract number, e.g. JSCZE2208138CGN00, HAXXS2401525ECN00;
# names_project: the articles name the project (就…（“项目”）进行专项技术服务), so a draft must give its name.
# late_fee_on: what the daily late fee is charged on, as the template's article words it: "owed", the amount paid late
# (seed 000's 2.3.3: 按照所欠费用每日加收); "contract_total", the contract's total for each day a payment is late
# (seed 003's 10.2: 每逾期1日…按照合同总费用千分之0.5).
# amendment_working_days: the working days (工作日) the other side has to answer a proposed change;
# silence_agrees: whether no answer by then is deemed agreement, as the template's article says (seed 003's 变更 article:
# 另一方应当在收到书面请求后7个工作日内予以答复；逾期未予答复的，视为同意). Seed 000 has no such article (未经甲乙双方
# 书面确认，任何一方不得自行变更): a change nobody answered lapses.
TEMPLATES = {
    "network_line": {"title_zh": "专线业务合同", "number_kind": "E", "number_suffix": "CGN00", "names_project": False,
                     "late_fee_on": "owed", "amendment_working_days": 7, "silence_agrees": False},
    "technical_service": {"title_zh": "技术服务合同", "number_kind": "S", "number_suffix": "ECN00",
                          "names_project": True, "late_fee_on": "contract_total", "amendment_working_days": 7,
                          "silence_agrees": True},
}

# What a one-time fee covers, printed after its name in the network line contract (seed 000's 1.1 and 1.2): the first
# entry whose word the fee's name contains. A fee of another kind prints its name alone, claiming nothing it may not
# cover.
ONE_TIME_FEE_SCOPES = (
    ("移机", "（指甲方申请将已开通的业务迁至新的装机地址时，乙方拆除原址线路设备、在新址重新布放线路并安装调测所收取的一次性费用，"
           "不包括用户终端和内部局域网设备费）"),
    ("接入", "（包括开户费、工料费、安装调测费等一次性费用，不包括用户终端和内部局域网设备费）"),
)

DEMO_PROVIDERS = [
    {
        "code": "xinxiang",
        "name": "中国电信集团有限公司新乡分公司",
        "address": "新乡市牧野区中原东路222号",
        "legal_representative": "郑长亮",
        "credit_code": "91410700747429956F",
        "phone": "0373-5290065",
        "contact": {"name": "陆洋", "phone": "18903736780", "email": ""},
        "bank": {
            "bank_name": "中国工商银行股份有限公司新乡平原路支行",
            "branch": "新乡市平原路中段",
            "account_name": "中国电信集团有限公司新乡分公司",
            "account_no": "1704020529021037640",
        },
        "province": "HA",
        "city": "XX",
        "seal_title": "合同专用章",
    },
    {
        "code": "changzhou",
        "name": "中国电信股份有限公司常州分公司",
        "address": "常州市天宁区和平北路29号",
        "legal_representative": "黄亚君",
        "credit_code": "",  # not printed on the seed contract; fill in once confirmed
        "phone": "",
        "contact": {"name": "", "phone": "", "email": ""},
        "bank": {"bank_name": "", "branch": "", "account_name": "", "account_no": ""},
        "province": "JS",
        "city": "CZ",
        "seal_title": "合同专用章",
    },
]


def default_tax_rate(service_types) -> Decimal:
    """The highest rate among the listed types: a mixed contract is invoiced at the rate that covers all of it."""
    return max(SERVICE_TYPES[code]["tax_rate"] for code in service_types)
