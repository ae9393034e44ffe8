"""Reading locators as suites write them and as runners print them; writing them back in style."""

from __future__ import annotations

import pytest

from healloop.agent.healing.locators import CYPRESS, PLAYWRIGHT, SELENIUM
from healloop.agent.healing.messages import from_message
from healloop.agent.healing.reader import blank_locators, reader_for


def uses(text: str, flavor: str, lang: str) -> list[tuple[str, str | None]]:
    return [(u.locator.describe(), u.action) for u in reader_for(text, flavor, lang).uses()]


def test_playwright_js_calls_chains_and_actions() -> None:
    spec = """
    test('signs in', async ({ page }) => {
      await page.getByTestId('email').fill('jane@example.com');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.locator('form#login').getByLabel('Password').fill('x');
      await expect(page.getByText(/welcome/i)).toBeVisible();
      await page.locator('ul.todo >> li >> nth=1').check();
      await page.click('[data-testid="menu"]');
      // await page.getByTestId('commented').click();
      const msg = "page.getByTestId('in-a-string')";
      await expect(page.locator('#total')).toHaveText('$30.00');
    });"""
    assert uses(spec, PLAYWRIGHT, "js") == [
        ("testid=email", "fill"),
        ("role=button[name='Sign in']", "click"),
        ("css=form#login >> label=Password", "fill"),
        ("text=welcome", None),
        ("css=ul.todo >> css=li >> nth=1", "check"),
        ('css=[data-testid="menu"]', "click"),
        ("css=#total", "read"),
    ]


def test_playwright_python_keywords_variables_and_page_objects() -> None:
    spec = """
class LoginPage:
    def __init__(self, page):
        self.email = page.get_by_label("Email")

    @property
    def submit(self):
        return self.page.get_by_role("button", name=re.compile("sign in", re.IGNORECASE))

def test_login(page):
    login = LoginPage(page)
    login.email.fill("a@b.co")
    login.submit.click()
    page.get_by_test_id("accept").check()
    page.locator("select#country").select_option("NL")
"""
    got = reader_for(spec, PLAYWRIGHT, "py").uses()
    assert [(u.locator.describe(), u.action, u.variable) for u in got] == [
        ("label=Email", "fill", "email"),
        ("role=button[name='sign in']", "click", "submit"),
        ("testid=accept", "check", None),
        ("css=select#country", "select", None),
    ]
    assert got[1].locator.last.regex == "i"
    assert got[0].typed == "a@b.co"


def test_cypress_and_testing_library() -> None:
    spec = """
    cy.get('[data-cy=qty]').clear().type('3');
    cy.contains('button', 'Save').click();
    cy.contains('Order placed').should('be.visible');
    cy.findByRole('checkbox', { name: 'Remember me' }).check();
    cy.findByLabelText('Country').select('Norway');
    cy.get('.cart').find('li').eq(2).should('have.text', 'Tea');
    """
    assert uses(spec, CYPRESS, "js") == [
        ("css=[data-cy=qty]", "fill"),
        ("contains('button', 'Save')", "click"),
        ("contains('Order placed')", None),
        ("role=checkbox[name='Remember me']", "check"),
        ("label=Country", "select"),
        ("css=.cart >> css=li >> nth=2", "read"),
    ]


def test_selenium_python_and_js() -> None:
    py = """
EMAIL = (By.ID, "email")

def test_it(driver):
    driver.find_element(*EMAIL).send_keys("a@b.co")
    driver.find_element(By.XPATH, "//button[text()='Go']").click()
    Select(driver.find_element(By.NAME, "country")).select_by_visible_text("NL")
    assert driver.find_element(By.CSS_SELECTOR, "h1.title").text == "Done"
"""
    assert uses(py, SELENIUM, "py") == [
        ("id=email", "fill"),
        ("xpath=//button[text()='Go']", "click"),
        ("name=country", "select"),
        ("css=h1.title", "read"),
    ]
    js = """await driver.findElement(By.css('#q')).sendKeys('tea');
await driver.findElement(By.linkText('Next')).click();"""
    assert uses(js, SELENIUM, "js") == [("css=#q", "fill"), ("link_text=Next", "click")]


@pytest.mark.parametrize(
    ("message", "flavor", "described"),
    [
        (
            "TimeoutError: locator.click: Timeout 5000ms exceeded.\nCall log:\n  - waiting for "
            "getByTestId('pay')\n",
            PLAYWRIGHT,
            "testid=pay",
        ),
        (
            'Locator.fill: Timeout 5000ms exceeded.\nCall log:\n  - waiting for get_by_role("textbox", '
            'name="Email")',
            PLAYWRIGHT,
            "role=textbox[name='Email']",
        ),
        (
            "Error: Timed out 5000ms waiting for expect(locator).toBeVisible()\n\nLocator: locator('#login')"
            ".getByRole('button', { name: 'Go' })\nExpected: visible\nReceived: <element(s) not found>",
            PLAYWRIGHT,
            "css=#login >> role=button[name='Go']",
        ),
        ("  - waiting for locator('xpath=//div[@id=\"x\"]')", PLAYWRIGHT, 'xpath=//div[@id="x"]'),
        (
            "AssertionError: Timed out retrying after 4000ms: Expected to find element: `[data-cy=submit]`, "
            "but never found it.",
            CYPRESS,
            "css=[data-cy=submit]",
        ),
        (
            "Timed out retrying after 4000ms: Expected to find content: 'Save' within the selector: 'button' "
            "but never did.",
            CYPRESS,
            "contains('button', 'Save')",
        ),
        (
            'Timed out retrying after 4000ms: Unable to find an accessible element with the role "button" '
            'and name '
            '"Add to cart"',
            CYPRESS,
            "role=button[name='Add to cart']",
        ),
        (
            "selenium.common.exceptions.NoSuchElementException: Message: no such element: Unable to locate "
            "element: "
            '{"method":"css selector","selector":"[id="email"]"}',
            SELENIUM,
            'css=[id="email"]',
        ),
        (
            'NoSuchElementError: no such element: Unable to locate element: {"method":"xpath","selector":'
            "\"//a[text()='Next']\"}",
            SELENIUM,
            "xpath=//a[text()='Next']",
        ),
    ],
)
def test_what_a_failure_message_names(message: str, flavor: str, described: str) -> None:
    found = from_message(message, flavor)
    assert found and found[0].describe() == described


def test_blanking_keeps_what_an_assertion_expects() -> None:
    line = "await expect(page.getByTestId('total')).toHaveText('$30.00');"
    assert blank_locators(line, "js") == "await expect(page.<selector>).toHaveText('$30.00');"
    by_text = "await expect(page.getByText('Order placed')).toBeVisible();"
    assert blank_locators(by_text, "js") == by_text
    cy = "cy.get('[data-cy=total]').should('have.text', '$30.00')"
    assert blank_locators(cy, "js") == "cy.<selector>.should('have.text', '$30.00')"


def test_a_locator_calls_has_text_option_filters_as_filter_does() -> None:
    js = """
    test('picks', async ({ page }) => {
      await page.locator('tr', { hasText: 'SKU-2' }).getByRole('button', { name: 'Pick' }).click();
    });"""
    py = """
def test_picks(page):
    page.locator("tr", has_text="SKU-2").get_by_role("button", name="Pick").click()
"""
    want = [("css=tr >> has_text=SKU-2 >> role=button[name='Pick']", "click")]
    assert uses(js, PLAYWRIGHT, "js") == want
    assert uses(py, PLAYWRIGHT, "py") == want
