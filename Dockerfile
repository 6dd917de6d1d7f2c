# The sam2 command in a container, for Kubernetes Indexed Jobs (sam2 cluster k8s) or any container engine.
# No model is baked in: mount a volume and let SAM2_HOME point at a cache on it (sam2 models download NAME).
#   docker build -t sam2sharp .
#   docker run --rm -v "$PWD/data:/data" -w /data sam2sharp vos --model sam2.1_hiera_tiny ...
# Publish in the SDK image; the build patches libLibTorchSharp.so's GLIBCXX requirement in the publish folder
# (build/PatchLibTorchSharp.targets), so it loads on the runtime image's libstdc++ as on Debian 12.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Build.targets Directory.Packages.props Sam2Sharp.slnx ./
COPY build/ build/
COPY src/ src/
COPY README.md LICENSE ./
RUN dotnet publish src/Sam2Sharp.Cli -c Release -o /app

# ASP.NET Core runtime: sam2 serve is part of the same program. ffmpeg decodes video files.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /app /opt/sam2
ENV SAM2_HOME=/data/sam2-cache
WORKDIR /data
ENTRYPOINT ["/opt/sam2/sam2"]
CMD ["--help"]
