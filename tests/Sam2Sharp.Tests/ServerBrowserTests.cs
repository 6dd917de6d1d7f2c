using System.Text.Json;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Interactions;
using OpenQA.Selenium.Support.UI;
using Sam2Sharp.Server;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>
/// The annotator page in Debian's headless Chromium (driven through chromedriver, both installed by scripts/setup.sh):
/// open an image and click, open the golden video frames, click, propagate, export COCO. Screenshots go to
/// SAM2_SERVE_SCREENSHOTS when it is set (the README's docs/images/serve_*.png come from there).
/// </summary>
public sealed class ServerBrowserTests
{
    static ChromeDriver StartBrowser(string downloads)
    {
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000");
        options.AddUserProfilePreference("download.default_directory", downloads);
        options.AddUserProfilePreference("download.prompt_for_download", false);
        // The Debian driver, named explicitly, so Selenium never looks for one to download.
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(120));
    }

    static void WaitFor(IWebDriver d, Func<IWebDriver, bool> condition, string what, int seconds = 90)
    {
        var wait = new WebDriverWait(d, TimeSpan.FromSeconds(seconds)) { PollingInterval = TimeSpan.FromMilliseconds(100) };
        try { wait.Until(condition); }
        catch (WebDriverTimeoutException) { Assert.Fail($"timed out waiting for {what}; status: {d.FindElement(By.Id("status")).Text}"); }
    }

    /// <summary>Clicks the overlay at a pixel of the frame (the canvas is scaled to fit the page).</summary>
    static void ClickFramePixel(ChromeDriver d, int x, int y)
    {
        var overlay = d.FindElement(By.Id("overlay"));
        var r = (IReadOnlyDictionary<string, object>)d.ExecuteScript(
            "const c=document.getElementById('overlay'),b=c.getBoundingClientRect();return {w:b.width,h:b.height,cw:c.width,ch:c.height};")!;
        double sx = Convert.ToDouble(r["w"]) / Convert.ToDouble(r["cw"]), sy = Convert.ToDouble(r["h"]) / Convert.ToDouble(r["ch"]);
        // Selenium 4 offsets are from the element's centre.
        new Actions(d).MoveToElement(overlay, (int)Math.Round((x + 0.5) * sx - Convert.ToDouble(r["w"]) / 2), (int)Math.Round((y + 0.5) * sy - Convert.ToDouble(r["h"]) / 2))
            .Click().Perform();
    }

    static long OverlayPixels(ChromeDriver d) => Convert.ToInt64(d.ExecuteScript(
        "const c=document.getElementById('overlay');const a=c.getContext('2d').getImageData(0,0,c.width,c.height).data;let n=0;for(let i=3;i<a.length;i+=4)if(a[i]>0)n++;return n;"));

    static void Screenshot(ChromeDriver d, string name)
    {
        var dir = Environment.GetEnvironmentVariable("SAM2_SERVE_SCREENSHOTS");
        if (string.IsNullOrEmpty(dir)) return;
        Directory.CreateDirectory(dir);
        d.GetScreenshot().SaveAsFile(Path.Combine(dir, name));
    }

    static string Status(IWebDriver d) => d.FindElement(By.Id("status")).Text;

    [Fact]
    public async Task ImageClickAndVideoPropagationInChromium()
    {
        var folder = Golden.Folders()[0];
        var downloads = TestCli.TempDir("sam2-serve-downloads-");
        try
        {
            await using var t = await TestServer.StartAsync(new ServeOptions { DataDir = Path.Combine(folder, "inputs") }, folder);
            using var d = StartBrowser(downloads);
            d.Navigate().GoToUrl(t.Server.Url);
            WaitFor(d, x => x.FindElement(By.Id("pathbox")).Displayed, "the data-folder box");

            // An image: upload, click, see the overlay.
            d.ExecuteScript("document.getElementById('file').hidden=false;");
            d.FindElement(By.Id("file")).SendKeys(Path.Combine(folder, "inputs", "image.png"));
            d.ExecuteScript("document.getElementById('file').hidden=true;");
            WaitFor(d, x => Status(x).Contains("Click on an object"), "the image session");
            Assert.Equal(0, OverlayPixels(d));
            ClickFramePixel(d, 168, 248);
            WaitFor(d, x => Status(x).StartsWith("mask in"), "the mask");
            long onImage = OverlayPixels(d);
            Assert.True(onImage > 1000, $"overlay shows {onImage} pixels");
            Screenshot(d, "serve_image.png");

            // The golden video frames by path: click, propagate, export COCO.
            d.FindElement(By.Id("path")).SendKeys("video");
            d.FindElement(By.Id("open-path")).Click();
            WaitFor(d, x => Status(x).Contains("10 frames"), "the video session");
            ClickFramePixel(d, 144, 108);
            WaitFor(d, x => Status(x).StartsWith("mask in"), "the video mask");
            Assert.True(OverlayPixels(d) > 100);
            d.FindElement(By.Id("propagate")).Click();
            WaitFor(d, x => x.FindElement(By.Id("prop-label")).Text == "10 frames", "the propagation");
            d.FindElement(By.Id("scrubber")).SendKeys(Keys.End);
            WaitFor(d, x => x.FindElement(By.Id("frame-label")).Text == "frame 9 / 9", "frame 9");
            Assert.True(OverlayPixels(d) > 0);
            Screenshot(d, "serve_video.png");
            d.FindElement(By.CssSelector("[data-export=coco]")).Click();
            WaitFor(d, _ => Directory.GetFiles(downloads, "*-coco.json").Length == 1, "the COCO download");
            string file = Directory.GetFiles(downloads, "*-coco.json")[0];
            JsonElement coco = default;
            WaitFor(d, _ => { try { coco = JsonDocument.Parse(File.ReadAllText(file)).RootElement; return true; } catch (JsonException) { return false; } }, "a complete COCO file");
            Assert.Equal(10, coco.GetProperty("images").GetArrayLength());
            var anns = coco.GetProperty("annotations").EnumerateArray().ToList();
            Assert.Equal(Enumerable.Range(1, 10), anns.Select(a => a.GetProperty("image_id").GetInt32()));
            Assert.All(anns, a => Assert.Equal(new[] { 180, 320 }, a.GetProperty("segmentation").GetProperty("size").EnumerateArray().Select(v => v.GetInt32())));
            d.Quit();
        }
        finally { Directory.Delete(downloads, recursive: true); }
    }
}
