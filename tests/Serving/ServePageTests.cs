using Microsoft.Playwright;
using Xunit;

namespace SmVL.Tests.Serving;

/// <summary>
/// The page at / in a real browser: Debian's chromium (/usr/bin/chromium, `apt-get install chromium`;
/// .ci/run installs it), headless, driven by Playwright. Pick the image, ask, and the streamed
/// answer is Generator's greedy answer, with the image tokens and tiles shown.
/// </summary>
[Collection("serve")]
public class ServePageTests(ServeFixture serve)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task UploadAskAndSeeTheStreamedAnswer()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install -y chromium (.ci/run does)");
        var expected = serve.GreedyAnswer(ServeFixture.Question, 24);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"], Timeout = 60_000 });
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(60_000);
        await page.GotoAsync(serve.Server.Address.ToString());
        Assert.Equal("使用中文回答所有问题。", await page.InputValueAsync("#system"));
        Assert.Equal(ServeFixture.Question, await page.InputValueAsync("#question"));

        await page.FillAsync("#api-key", ServeFixture.Key);
        await page.DispatchEventAsync("#api-key", "change");
        await Assertions.Expect(page.Locator("#model")).ToHaveTextAsync("tiny");
        await page.SetInputFilesAsync("#image-input", serve.PngPath);
        await Assertions.Expect(page.Locator("#preview")).ToBeVisibleAsync();
        await page.FillAsync("#max-tokens", "24");
        await page.ClickAsync("#ask");

        await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("done");
        Assert.Equal(expected.Text, await page.Locator("#answer").TextContentAsync());
        var info = await page.Locator("#info").TextContentAsync();
        Assert.Contains("image tokens: 20", info);
        Assert.Contains("2×2 tiles", info);
    }
}
