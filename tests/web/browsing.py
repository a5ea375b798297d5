"""What people do in a real browser, shared by the browser tests: staff sign in and out, the screens they use, and a
hand drawing a signature on the pad (with the mouse, or a finger on a phone)."""
from workflows.demo import DEMO_PASSWORD

SCREENS = {"desk": {"viewport": {"width": 1280, "height": 900}},
           "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
                     "has_touch": True}}
INKED = """() => { const c = document.getElementById('signature-pad');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""  # pixels drawn on the pad


def sign_in(page, base, username):
    """The staff login page, as a person types it; waits for the page it leads to (the inbox, or where they went)."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def sign_out(page):
    page.click("text=退出登录")


def signature_strokes(box):
    """A wavy stroke and a cross stroke inside the pad's box, as a hand would draw them: lists of (x, y) points."""
    x, y, step = box["x"], box["y"], (box["width"] - 60) / 30
    wave = [(x + 30 + i * step, y + 110 - (40 if i % 4 < 2 else -10) + i) for i in range(30)]
    cross = [(x + box["width"] / 3 + i * 5, y + 50 + i * 13) for i in range(9)]
    return [wave, cross]


def draw_signature(page):
    """Draw on ``#signature-pad``: with a finger (touch events) where the page has a touch screen, else the mouse."""
    pad = page.locator("#signature-pad")
    pad.scroll_into_view_if_needed()
    strokes = signature_strokes(pad.bounding_box())
    if page.evaluate("navigator.maxTouchPoints") > 0:
        touch = page.context.new_cdp_session(page)  # Playwright's touchscreen only taps; a finger drags
        for stroke in strokes:
            for index, (x, y) in enumerate(stroke):
                kind = "touchStart" if index == 0 else "touchMove"
                touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
            touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        touch.detach()
        return
    for stroke in strokes:
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(x, y, steps=3)
        page.mouse.up()
