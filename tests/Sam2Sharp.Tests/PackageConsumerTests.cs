using System.Diagnostics;
using System.IO.Compression;
using Xunit;

namespace Sam2Sharp.Tests;

/// <summary>
/// The NuGet package as a .NET developer uses it: <c>dotnet pack</c> of the library into a local folder, a fresh
/// console project outside the repository that references it from there (with TorchSharp-cpu and SkiaSharp's Linux
/// assets, as the README says), built and run on a golden image case through the public API. The run only starts
/// on Debian 12 if the package's buildTransitive targets patched libLibTorchSharp.so in the consumer's output.
/// </summary>
public sealed class PackageConsumerTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("sam2-consumer-").FullName;
    // A version of its own, so that the global package cache never serves a package packed from older code.
    readonly string version = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    public void Dispose()
    {
        Directory.Delete(root, recursive: true);
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var cached = Path.Combine(cache, "sam2sharp", version);
        if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
    }

    const string ConsumerProgram = """
        using Sam2Sharp;
        using Sam2Sharp.Imaging;
        using TorchSharp;
        using TorchSharp.PyBridge;
        using static TorchSharp.torch;

        // args: config.yaml model.pt image.png x y output.safetensors
        using var model = Sam2Builder.Load(args[0], args[1], new Sam2ModelOptions { Device = CPU });
        using var predictor = new Sam2ImagePredictor(model);
        predictor.SetImage(RgbImage.Load(args[2]));
        using var result = predictor.Predict(new float[,] { { float.Parse(args[3]), float.Parse(args[4]) } }, [1], multimaskOutput: true);
        Safetensors.SaveStateDict(args[5], new Dictionary<string, Tensor>
        {
            ["masks"] = result.Masks, ["iou_predictions"] = result.IouPredictions, ["low_res_logits"] = result.LowResLogits,
        });
        Console.WriteLine($"{result.Masks.shape[0]} masks");
        """;

    static string Run(string workingDir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // No MSBuild or compiler server left running after the test.
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        psi.Environment["UseSharedCompilation"] = "false";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(10))) { p.Kill(entireProcessTree: true); Assert.Fail($"dotnet {string.Join(' ', args)}: timed out"); }
        Assert.True(p.ExitCode == 0, $"dotnet {string.Join(' ', args)} exited {p.ExitCode}:\n{stdout}\n{stderr.Result}");
        return stdout;
    }

    [Fact]
    public void PackedLibrarySegmentsAGoldenImageInAFreshProject()
    {
        var feed = Path.Combine(root, "feed");
        Run(Golden.RepoRoot, "pack", Path.Combine("src", "Sam2Sharp", "Sam2Sharp.csproj"), "-c", "Release", "-o", feed,
            $"-p:Version={version}", "-nodeReuse:false");
        var nupkg = Path.Combine(feed, $"Sam2Sharp.{version}.nupkg");
        Assert.True(File.Exists(Path.Combine(feed, $"Sam2Sharp.{version}.snupkg")), "no symbol package");
        using (var zip = ZipFile.OpenRead(nupkg))
        {
            var entries = zip.Entries.Select(e => e.FullName).ToHashSet();
            foreach (var e in new[] { "lib/net10.0/Sam2Sharp.dll", "lib/net10.0/Sam2Sharp.xml", "README.md", "buildTransitive/Sam2Sharp.targets" })
                Assert.Contains(e, entries);
            using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec")).Open());
            var spec = nuspec.ReadToEnd();
            Assert.Contains("<dependency id=\"TorchSharp\"", spec);
            Assert.DoesNotContain("<dependency id=\"TorchSharp-cpu\"", spec); // the application chooses the native runtime
        }

        var app = Path.Combine(root, "consumer");
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <configuration>
              <packageSources>
                <add key="sam2sharp-local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Sam2Sharp" Version="{version}" />
                <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
                <PackageReference Include="SkiaSharp.NativeAssets.Linux.NoDependencies" Version="3.119.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), ConsumerProgram);
        Run(app, "build", "-c", "Release", "-nodeReuse:false");

        var folder = Path.Combine(Golden.SharedDir, "golden", "sam2.1-micro");
        var c = Golden.Case(folder, "image_point_multimask");
        var point = c.GetProperty("prompts").GetProperty("point_coords")[0];
        var output = Path.Combine(root, "result.safetensors");
        var stdout = Run(app, Path.Combine(app, "bin", "Release", "net10.0", "consumer.dll"),
            Path.Combine(folder, "config.yaml"), Path.Combine(folder, "model.pt"), Path.Combine(folder, c.GetProperty("image").GetString()!),
            point[0].GetRawText(), point[1].GetRawText(), output);
        Assert.Contains("3 masks", stdout);

        var got = Golden.Tensors(output);
        var expected = Golden.Tensors(Path.Combine(folder, c.GetProperty("expected").GetString()!));
        ImagePredictorGoldenTests.AssertPrediction(expected, got["masks"], got["iou_predictions"], got["low_res_logits"], null);
    }
}
