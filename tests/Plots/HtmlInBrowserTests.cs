using Microsoft.Playwright;
using SmVL.Plots;
using Xunit;

namespace SmVL.Tests.Plots;

/// <summary>
/// Chart pages opened from disk in a real browser (Debian's chromium, headless, driven by Playwright,
/// as in ServePageTests) with every non-file request refused: the chart draws from the inline
/// plotly.js alone, and a chart fragment on a page without plotly.js says why it is empty.
/// </summary>
public sealed class HtmlInBrowserTests : IDisposable
{
    private const string Chromium = "/usr/bin/chromium";
    private readonly string _dir = Directory.CreateTempSubdirectory("smvl-html-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Plotly.NET.GenericChart Chart() => Plotly.NET.CSharp.Chart.Line<int, int, string>(x: new[] { 1, 2, 3 }, y: new[] { 3, 1, 2 }, Name: "curve");

    /// <summary>Opens the HTML from a file and returns the page and the URLs it tried to fetch elsewhere.</summary>
    private async Task<(IPage Page, List<string> Refused, IAsyncDisposable Browser, IPlaywright Playwright)> Open(string html)
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install -y chromium (.ci/run does)");
        string path = Path.Combine(_dir, $"{Guid.NewGuid():N}.html");
        File.WriteAllText(path, html);
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"], Timeout = 60_000 });
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(60_000);
        var refused = new List<string>();
        await page.RouteAsync("**/*", route =>
        {
            if (route.Request.Url.StartsWith("file:")) return route.ContinueAsync();
            lock (refused) refused.Add(route.Request.Url);
            return route.AbortAsync();
        });
        await page.GotoAsync(new Uri(path).AbsoluteUri);
        return (page, refused, browser, playwright);
    }

    [Fact]
    public async Task A_standalone_page_draws_its_chart_with_no_network()
    {
        var (page, refused, browser, playwright) = await Open(Html.StandalonePage("offline", ["<h1>offline</h1>", Html.ChartDiv(Chart())]));
        try
        {
            await Assertions.Expect(page.Locator(".js-plotly-plot .main-svg").First).ToBeVisibleAsync();
            Assert.Equal(1, await page.Locator(".js-plotly-plot .scatterlayer .trace").CountAsync());
            Assert.Empty(refused);
        }
        finally { await browser.DisposeAsync(); playwright.Dispose(); }
    }

    [Fact]
    public async Task A_chart_without_plotly_js_on_its_page_says_so()
    {
        var (page, refused, browser, playwright) = await Open("<!DOCTYPE html><html><body>" + Html.ChartDiv(Chart()) + "</body></html>");
        try
        {
            await Assertions.Expect(page.Locator("body > div").First).ToHaveTextAsync(Html.NoPlotlyJs);
            Assert.Empty(refused);
        }
        finally { await browser.DisposeAsync(); playwright.Dispose(); }
    }
}
