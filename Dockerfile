# Image of the tagstream pipeline for docker-compose.yml; `npm run pipeline` bundles the job (esbuild) and runs it.
FROM node:20-slim

WORKDIR /app
# Run as the image's unprivileged user; it owns /app so npm ci and anything the pipeline writes there need no root.
RUN chown node:node /app
USER node

# Dependencies first, so editing sources does not reinstall them. All of them: tsx and esbuild are runtime
# dependencies, and .npmrc keeps onnxruntime-node from fetching CUDA binaries.
COPY --chown=node:node package.json package-lock.json .npmrc ./
RUN npm ci

COPY --chown=node:node . .

# 9464: Prometheus /metrics; 8080: REST API.
EXPOSE 9464 8080
CMD ["npm", "run", "pipeline"]
